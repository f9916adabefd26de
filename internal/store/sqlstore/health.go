package sqlstore

import (
	"context"
	"time"
)

// ProbeWrite commits one small write, for readiness: a server whose
// database answers reads but refuses writes (a full disk, a read-only file
// or standby) cannot sign anyone in. It goes through the same transactions
// as every other write, so on SQLite it queues behind them like a request.
func (s *Store) ProbeWrite(ctx context.Context, now time.Time) error {
	return s.inTx(ctx, func(q *queries) error {
		_, err := q.exec(ctx, `INSERT INTO health (id, checked_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, micros(now))
		return err
	})
}
