-- Create index "comment_tenant_id_task_id_created_at" to table: "comments"
CREATE INDEX "comment_tenant_id_task_id_created_at" ON "comments" ("tenant_id", "task_id", "created_at");
-- Create index "task_tenant_id_project_id_created_at" to table: "tasks"
CREATE INDEX "task_tenant_id_project_id_created_at" ON "tasks" ("tenant_id", "project_id", "created_at");
