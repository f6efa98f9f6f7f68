-- Create index "activitylog_actor_id_action" to table: "activity_logs"
CREATE INDEX "activitylog_actor_id_action" ON "activity_logs" ("actor_id", "action");
