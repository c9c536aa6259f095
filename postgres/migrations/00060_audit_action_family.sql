-- The audit trail's action families: "customer." selects every
-- customer.* event. An index on the family (the action up to and with its
-- dot, as rtrim leaves it) and seq answers a family filter newest first
-- without sorting its matches; the range of actions on
-- audit_events_action did (every customer.* event, to show fifty). The
-- expression must read exactly as sqlstore's AuditEvents writes it.

-- +goose Up
CREATE INDEX audit_events_family ON audit_events (rtrim(action, 'abcdefghijklmnopqrstuvwxyz0123456789_'), seq);

-- +goose Down
DROP INDEX audit_events_family;
