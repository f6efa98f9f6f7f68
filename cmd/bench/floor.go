package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tenantgraph/internal/globalid"
	"tenantgraph/internal/priority"
)

// The floor: ProjectTree's JSON from three hand-written queries (projects
// page; the first 10 tasks of each with their count; the first 5 comments of
// each of those with their count; assignee and author names joined in), with
// window functions for the per-parent limits, encoded by encoding/json. No
// authentication, no GraphQL: the least work that produces the same bytes'
// worth of answer.
type floor struct {
	db          *sql.DB
	postgres    bool
	tenantID    int
	tasksPer    int
	commentsPer int
}

type fUser struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type fComment struct {
	ID        string    `json:"id"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"createdAt"`
	Author    fUser     `json:"author"`
}

type fCommentEdge struct {
	Node *fComment `json:"node"`
}

type fComments struct {
	TotalCount int            `json:"totalCount"`
	Edges      []fCommentEdge `json:"edges"`
}

type fTask struct {
	ID       string     `json:"id"`
	Title    string     `json:"title"`
	Status   string     `json:"status"`
	Priority string     `json:"priority"`
	DueDate  *time.Time `json:"dueDate"`
	Assignee *fUser     `json:"assignee"`
	Comments fComments  `json:"comments"`
}

type fTaskEdge struct {
	Node *fTask `json:"node"`
}

type fTasks struct {
	TotalCount int         `json:"totalCount"`
	Edges      []fTaskEdge `json:"edges"`
}

type fProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Tasks  fTasks `json:"tasks"`
}

type fProjectEdge struct {
	Node *fProject `json:"node"`
}

type fResponse struct {
	Data struct {
		Projects struct {
			Edges []fProjectEdge `json:"edges"`
		} `json:"projects"`
	} `json:"data"`
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Variables struct {
			First int `json:"first"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Variables.First < 1 || req.Variables.First > 100 {
		http.Error(w, "want {\"variables\":{\"first\":1..100}}", http.StatusBadRequest)
		return
	}
	out, err := f.tree(r.Context(), req.Variables.First)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// ph returns the n-th (1-based) placeholder.
func (f *floor) ph(n int) string {
	if f.postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// in returns "(p1, p2, …)" for n placeholders starting at the start-th.
func (f *floor) in(start, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.ph(start + i))
	}
	b.WriteByte(')')
	return b.String()
}

func (f *floor) tree(ctx context.Context, first int) (*fResponse, error) {
	out := &fResponse{}
	out.Data.Projects.Edges = []fProjectEdge{}

	// 1. The projects page.
	rows, err := f.db.QueryContext(ctx, `SELECT id, name, status FROM projects WHERE tenant_id = `+f.ph(1)+
		` ORDER BY created_at, id LIMIT `+f.ph(2), f.tenantID, first)
	if err != nil {
		return nil, fmt.Errorf("projects: %w", err)
	}
	projects := map[int]*fProject{}
	var pids []any
	pids = append(pids, f.tenantID)
	for rows.Next() {
		var id int
		p := &fProject{Tasks: fTasks{Edges: []fTaskEdge{}}}
		if err := rows.Scan(&id, &p.Name, &p.Status); err != nil {
			rows.Close()
			return nil, err
		}
		p.ID = globalid.Encode(id)
		projects[id] = p
		pids = append(pids, id)
		out.Data.Projects.Edges = append(out.Data.Projects.Edges, fProjectEdge{Node: p})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(projects) == 0 {
		return out, nil
	}

	// 2. The first tasks of each project, their count, the assignee's name.
	rows, err = f.db.QueryContext(ctx, `SELECT t.id, t.project_id, t.title, t.status, t.priority, t.due_date, t.assignee_id, u.name, t.total
FROM (SELECT id, project_id, title, status, priority, due_date, assignee_id,
        ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY created_at, id) AS rn,
        COUNT(*) OVER (PARTITION BY project_id) AS total
      FROM tasks WHERE tenant_id = `+f.ph(1)+` AND project_id IN `+f.in(2, len(pids)-1)+`) t
LEFT JOIN users u ON u.id = t.assignee_id
WHERE t.rn <= `+strconv.Itoa(f.tasksPer)+`
ORDER BY t.project_id, t.rn`, pids...)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	tasks := map[int]*fTask{}
	tids := []any{f.tenantID}
	for rows.Next() {
		var (
			id, pid, prio, total int
			due                  sql.NullTime
			assignee             sql.NullInt64
			name                 sql.NullString
		)
		t := &fTask{Comments: fComments{Edges: []fCommentEdge{}}}
		if err := rows.Scan(&id, &pid, &t.Title, &t.Status, &prio, &due, &assignee, &name, &total); err != nil {
			rows.Close()
			return nil, err
		}
		t.ID = globalid.Encode(id)
		t.Priority = priority.Priority(prio).String()
		if due.Valid {
			d := due.Time
			t.DueDate = &d
		}
		if assignee.Valid {
			t.Assignee = &fUser{ID: globalid.Encode(int(assignee.Int64)), Name: name.String}
		}
		p := projects[pid]
		p.Tasks.TotalCount = total
		p.Tasks.Edges = append(p.Tasks.Edges, fTaskEdge{Node: t})
		tasks[id] = t
		tids = append(tids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return out, nil
	}

	// 3. The first comments of each of those tasks, their count, the author's name.
	rows, err = f.db.QueryContext(ctx, `SELECT c.id, c.task_id, c.body, c.created_at, c.author_id, u.name, c.total
FROM (SELECT id, task_id, body, created_at, author_id,
        ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY created_at, id) AS rn,
        COUNT(*) OVER (PARTITION BY task_id) AS total
      FROM comments WHERE tenant_id = `+f.ph(1)+` AND task_id IN `+f.in(2, len(tids)-1)+`) c
JOIN users u ON u.id = c.author_id
WHERE c.rn <= `+strconv.Itoa(f.commentsPer)+`
ORDER BY c.task_id, c.rn`, tids...)
	if err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, tid, author, total int
		c := &fComment{}
		if err := rows.Scan(&id, &tid, &c.Body, &c.CreatedAt, &author, &c.Author.Name, &total); err != nil {
			return nil, err
		}
		c.ID = globalid.Encode(id)
		c.Author.ID = globalid.Encode(author)
		t := tasks[tid]
		t.Comments.TotalCount = total
		t.Comments.Edges = append(t.Comments.Edges, fCommentEdge{Node: c})
	}
	return out, rows.Err()
}
