-- Create index "membership_tenant_id_id" to table: "memberships"
CREATE INDEX "membership_tenant_id_id" ON "memberships" ("tenant_id", "id");
-- Create index "membership_user_id" to table: "memberships"
CREATE INDEX "membership_user_id" ON "memberships" ("user_id");
-- Create index "notification_tenant_id_recipient_id_read_created_at" to table: "notifications"
CREATE INDEX "notification_tenant_id_recipient_id_read_created_at" ON "notifications" ("tenant_id", "recipient_id", "read", "created_at");
-- Create index "outboxentry_status_updated_at" to table: "outbox_entries"
CREATE INDEX "outboxentry_status_updated_at" ON "outbox_entries" ("status", "updated_at");
-- Create index "project_tenant_id_id" to table: "projects"
CREATE INDEX "project_tenant_id_id" ON "projects" ("tenant_id", "id");
-- Create index "task_tenant_id_assignee_id" to table: "tasks"
CREATE INDEX "task_tenant_id_assignee_id" ON "tasks" ("tenant_id", "assignee_id") WHERE (assignee_id IS NOT NULL);
-- Create index "task_tenant_id_id" to table: "tasks"
CREATE INDEX "task_tenant_id_id" ON "tasks" ("tenant_id", "id");
-- Drop index "notification_tenant_id_recipient_id_read" from table: "notifications"
DROP INDEX "notification_tenant_id_recipient_id_read";
