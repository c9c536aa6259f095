package http

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// taskForm is the form to set a follow-up task, with its values and
// errors.
type taskForm struct {
	Title    string
	Due      string
	Assignee string
	Errors   map[string]string
	Error    string
}

// tasksView is the tasks section of the customer page.
type tasksView struct {
	Tasks []taskRow
	Users []userOption
	Form  taskForm
}

// taskRow is a task with its assignee's name.
type taskRow struct {
	custodian.Task
	AssigneeName string
}

// userOption is a user offered as an assignee.
type userOption struct {
	ID, Name string
}

// tasks builds the tasks section of customer id's page.
func (u *ui) tasks(r *http.Request, id string, names *actorNames, form *taskForm) (*tasksView, error) {
	ks, err := u.task.Tasks(r.Context(), id)
	if err != nil {
		return nil, err
	}
	v := &tasksView{}
	for _, k := range ks {
		v.Tasks = append(v.Tasks, taskRow{Task: k, AssigneeName: names.name(k.Assignee)})
	}
	if form != nil {
		v.Form = *form
	} else {
		v.Form = taskForm{Due: u.now().UTC().Format(dateLayout), Assignee: principal(r).User.ID}
	}
	for uid, name := range names.all() {
		if strings.HasPrefix(uid, custodian.UserIDPrefix) {
			v.Users = append(v.Users, userOption{ID: uid, Name: name})
		}
	}
	slices.SortFunc(v.Users, func(a, b userOption) int { return strings.Compare(a.Name, b.Name) })
	return v, nil
}

// handleTaskForm sets a follow-up task from the customer page's form.
func (u *ui) handleTaskForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id, f := r.PathValue("id"), r.PostForm
		form := taskForm{Title: f.Get("title"), Due: f.Get("due"), Assignee: f.Get("assignee")}
		in := custodian.TaskInput{Title: form.Title, Assignee: form.Assignee}
		// A due date that does not parse is left out, and refused with
		// the other fields' errors.
		in.Due, _ = time.ParseInLocation(dateLayout, form.Due, time.UTC)
		_, err := u.task.AddTask(r.Context(), id, in)
		u.customerFormDone(w, r, id, err, "tasks", "task-added", func() customerForms {
			form.Errors, form.Error = u.fieldErrors(r, err), u.errorMessage(r, err)
			return customerForms{task: &form}
		})
	})
}

// handleTaskDoneForm marks a task done (done=true) or open again, then
// returns to the page it came from: the customer's, or "my tasks".
func (u *ui) handleTaskDoneForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		task, err := strconv.ParseInt(r.PathValue("task"), 10, 64)
		if err != nil {
			u.fail(w, r, custodian.Errorf(custodian.ENOTFOUND, "%s", msg("Task not found.")))
			return
		}
		if err := u.task.SetTaskDone(r.Context(), id, task, r.PostForm.Get("done") == "true"); err != nil {
			u.failCustomer(w, r, id, err)
			return
		}
		to := uiCustomerPath(id) + "#tasks"
		if r.PostForm.Get("back") == "tasks" {
			to = "/tasks"
		}
		redirectWithFlash(w, r, to, "task-updated")
	})
}

// myTasksData is the "my tasks" page: the open tasks assigned to the
// user that are due today or overdue.
type myTasksData struct {
	Tasks []custodian.AssignedTask
	Today time.Time
}

// handleMyTasks shows the user's open tasks due today or overdue.
func (u *ui) handleMyTasks() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks, err := u.task.MyTasks(r.Context())
		if err != nil {
			u.fail(w, r, err)
			return
		}
		u.render(w, r, http.StatusOK, "tasks", uiView{Title: u.t(r, "My tasks"), Section: "tasks", Data: myTasksData{Tasks: ks, Today: custodian.DayOf(u.now())}})
	})
}
