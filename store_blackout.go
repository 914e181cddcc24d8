package authgin

// The blackouts table: at most one row (id blackoutID).

import (
	"context"

	"gorm.io/gorm/clause"
)

const blackoutID = 1

// blackoutCutoff reads the blackout (Unix ms); zero when there is none.
func (s *store) blackoutCutoff(ctx context.Context) (int64, error) {
	var cutoff int64
	_, err := s.scanRow(ctx, "SELECT cutoff_ms FROM blackouts WHERE id = ?", []any{blackoutID}, &cutoff)
	return cutoff, err
}

// setBlackout sets (or moves) the blackout, recording the admin by.
func (s *store) setBlackout(ctx context.Context, cutoffMS, by int64) error {
	db, cancel := s.gorm(ctx)
	defer cancel()
	err := db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"cutoff_ms", "set_by"}),
	}).Create(&blackoutRow{ID: blackoutID, CutoffMS: cutoffMS, SetBy: by}).Error
	return dbError(err)
}

// deleteBlackout lifts the blackout and reports whether there was one.
func (s *store) deleteBlackout(ctx context.Context) (bool, error) {
	n, err := s.exec(ctx, "DELETE FROM blackouts WHERE id = ?", blackoutID)
	return n > 0, err
}
