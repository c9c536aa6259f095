package http

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/custodian-crm/custodian"
)

// tasksJSON lists follow-up tasks: a customer's, open ones first, or the
// caller's own that are due today or overdue, oldest due first.
type tasksJSON[T any] struct {
	Items []T `json:"items"`
}

// taskID reads the {task} path value; a value that is not a task number
// names no task.
func taskID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("task"), 10, 64)
	if err != nil || id < 1 {
		return 0, errorf(custodian.ENOTFOUND, "Task not found.")
	}
	return id, nil
}

// handleTasks lists a customer's follow-up tasks, open ones first.
func handleTasks(logger *slog.Logger, ts custodian.TaskService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		ks, err := ts.Tasks(r.Context(), r.PathValue("id"))
		return http.StatusOK, tasksJSON[custodian.Task]{ks}, err
	})
}

// handleAddTask sets a follow-up task on a customer (assigned to the
// caller when the body names nobody), audited like the web form.
func handleAddTask(logger *slog.Logger, ts custodian.TaskService) http.Handler {
	return handle(logger, func(r *http.Request, in *custodian.TaskInput) (int, any, error) {
		k, err := ts.AddTask(r.Context(), r.PathValue("id"), *in)
		return http.StatusCreated, k, err
	})
}

// handleUpdateTask changes the fields the body gives of a customer's
// task: its title, due day, assignee, or whether it is done.
func handleUpdateTask(logger *slog.Logger, ts custodian.TaskService) http.Handler {
	return handle(logger, func(r *http.Request, in *custodian.TaskUpdate) (int, any, error) {
		id, err := taskID(r)
		if err != nil {
			return 0, nil, err
		}
		k, err := ts.UpdateTask(r.Context(), r.PathValue("id"), id, *in)
		return http.StatusOK, k, err
	})
}

// handleDeleteTask deletes a customer's task.
func handleDeleteTask(logger *slog.Logger, ts custodian.TaskService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		id, err := taskID(r)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, ts.DeleteTask(r.Context(), r.PathValue("id"), id)
	})
}

// handleMyTasks lists the caller's open tasks due today or overdue.
func handleMyTasks(logger *slog.Logger, ts custodian.TaskService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		ks, err := ts.MyTasks(r.Context())
		return http.StatusOK, tasksJSON[custodian.AssignedTask]{ks}, err
	})
}
