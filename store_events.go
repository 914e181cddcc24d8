package authgin

// The security_events table, and paging through any table.

import (
	"context"

	"gorm.io/gorm"
)

// gormQuery is a query being built, for page's filters.
type gormQuery = *gorm.DB

// insertEvent inserts ev and sets its ID, in plain SQL (most requests that
// change something record one).
func (s *store) insertEvent(ctx context.Context, ev *SecurityEvent) error {
	id, err := s.insertID(ctx, `INSERT INTO security_events (user_id, event, actor_id, session_id, ip, user_agent, detail, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.UserID, ev.Event, ev.ActorID, ev.SessionID, ev.IP, ev.UserAgent, ev.Detail, ev.CreatedAt)
	if err != nil {
		return err
	}
	ev.ID = id
	return nil
}

// eventsOf returns page p (pageSize rows, newest first) of userID's
// security events and how many there are in all.
func (s *store) eventsOf(ctx context.Context, userID int64, p, pageSize int) ([]SecurityEvent, int64, error) {
	items := []SecurityEvent{}
	n, err := s.page(ctx, &SecurityEvent{}, func(q gormQuery) gormQuery { return q.Where("user_id = ?", userID) },
		"created_at DESC, id DESC", p, pageSize, &items)
	return items, n, err
}

// page counts the rows of model that filter selects and loads page p of
// them (pageSize rows in order) into dst.
func (s *store) page(ctx context.Context, model any, filter func(gormQuery) gormQuery, order string, p, pageSize int, dst any) (int64, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var n int64
	if err := filter(db.Model(model)).Count(&n).Error; err != nil {
		return 0, dbError(err)
	}
	if n > int64(p-1)*int64(pageSize) {
		if err := filter(db.Model(model)).Order(order).Offset((p - 1) * pageSize).Limit(pageSize).Find(dst).Error; err != nil {
			return 0, dbError(err)
		}
	}
	return n, nil
}
