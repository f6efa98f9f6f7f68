-- Create index "notification_project_id" to table: "notifications"
CREATE INDEX "notification_project_id" ON "notifications" ("project_id") WHERE (project_id IS NOT NULL);
-- Create index "notification_task_id" to table: "notifications"
CREATE INDEX "notification_task_id" ON "notifications" ("task_id") WHERE (task_id IS NOT NULL);
