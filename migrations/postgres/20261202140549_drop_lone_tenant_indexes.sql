-- Drop index "activitylog_tenant_id" from table: "activity_logs"
DROP INDEX "activitylog_tenant_id";
-- Drop index "comment_tenant_id" from table: "comments"
DROP INDEX "comment_tenant_id";
-- Drop index "membership_tenant_id" from table: "memberships"
DROP INDEX "membership_tenant_id";
-- Drop index "notification_tenant_id" from table: "notifications"
DROP INDEX "notification_tenant_id";
-- Drop index "outboxentry_tenant_id" from table: "outbox_entries"
DROP INDEX "outboxentry_tenant_id";
-- Drop index "project_tenant_id" from table: "projects"
DROP INDEX "project_tenant_id";
-- Drop index "task_tenant_id" from table: "tasks"
DROP INDEX "task_tenant_id";
