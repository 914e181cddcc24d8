package authgin

// The revocations table: per user, its latest revocation of all its
// sessions (see revocationRow). The merge rule of a new revocation into a
// user's row is the upsert in store_dialect.go (revocationSQL), and
// revocation.then in Go.

import (
	"context"
	"errors"
)

// recordRevocation records that every session of userID but keep (empty:
// none) was revoked at nowMS (Unix ms).
func (s *store) recordRevocation(ctx context.Context, userID int64, keep string, nowMS int64) error {
	_, err := s.exec(ctx, s.d.revocationSQL(), userID, nowMS, keep)
	return err
}

// revocationsSince reads the revocations made after sinceMS (Unix ms), by
// user.
func (s *store) revocationsSince(ctx context.Context, sinceMS int64) (map[int64]revocation, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Statement.ConnPool.QueryContext(ctx, s.d.bind(
		"SELECT user_id, valid_after_ms, keep_session_id, keep_after_ms FROM revocations WHERE valid_after_ms > ?"), sinceMS)
	if err != nil {
		return nil, dbError(err)
	}
	m := make(map[int64]revocation)
	for rows.Next() {
		var id int64
		var r revocation
		if err := rows.Scan(&id, &r.validAfterMS, &r.keepSession, &r.keepAfterMS); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return nil, dbError(err)
		}
		m[id] = r
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, dbError(err)
	}
	return m, nil
}
