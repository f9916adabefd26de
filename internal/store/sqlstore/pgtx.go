package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgTx is a PostgreSQL transaction run by hand on one connection, so that
// what nothing waits for travels with the next statement instead of taking a
// round trip of its own: BEGIN goes with the transaction's first statement,
// and audit records (whose ids are read back at the end) with the statement
// after them or with COMMIT. A second-factor check's transaction is then
// three round trips — BEGIN and the step, the counter, the audit record and
// COMMIT — instead of five. The guarantees are the transaction's: statements
// run in the order written, and any failure rolls back all of them.
type pgTx struct {
	conn    *sql.Conn
	begun   bool // BEGIN was sent and no COMMIT or ROLLBACK since
	waiting []waitingStmt
}

// waitingStmt is a statement queued for the next round trip.
type waitingStmt struct {
	query string // with $n placeholders
	args  []any
	id    *int64 // where a RETURNING id lands, when set
}

// errCommitRolledBack: PostgreSQL answers COMMIT of a transaction a failed
// statement aborted with ROLLBACK, not an error.
var errCommitRolledBack = errors.New("the transaction was rolled back at commit")

func (s *Store) pgTx(ctx context.Context, fn func(q *queries) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &pgTx{conn: conn}
	// Roll back whatever is still open (fn failed or panicked, or COMMIT
	// did not answer); a connection that cannot is discarded, never reused
	// inside a transaction.
	defer func() {
		if t.begun {
			t.rollback()
		}
		conn.Close()
	}()
	if err := fn(&queries{s: s, pg: t}); err != nil {
		return err
	}
	if !t.begun && len(t.waiting) == 0 {
		return nil // nothing was written
	}
	if _, err := t.send(ctx, "COMMIT", nil); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// later queues a statement whose answer nothing waits for.
func (t *pgTx) later(query string, args []any, id *int64) {
	t.waiting = append(t.waiting, waitingStmt{query: query, args: args, id: id})
}

// flush sends BEGIN and what is queued before a query whose rows are read
// the usual way; nothing when both are done.
func (t *pgTx) flush(ctx context.Context) error {
	if t.begun && len(t.waiting) == 0 {
		return nil
	}
	_, err := t.send(ctx, "", nil)
	return err
}

// send makes one round trip: BEGIN when not yet sent, the queued statements,
// then query (none when empty), whose row count it returns. COMMIT ends the
// transaction.
func (t *pgTx) send(ctx context.Context, query string, args []any) (int64, error) {
	var b pgx.Batch
	begin := !t.begun
	if begin {
		b.Queue("BEGIN")
	}
	waiting := t.waiting
	t.waiting = nil
	for _, w := range waiting {
		b.Queue(w.query, w.args...)
	}
	if query != "" {
		b.Queue(query, args...)
	}
	if begin {
		t.begun = true // from here a failure needs a ROLLBACK
	}
	var n int64
	err := t.conn.Raw(func(dc any) error {
		br := dc.(*stdlib.Conn).Conn().SendBatch(ctx, &b)
		err := func() error {
			if begin {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			for _, w := range waiting {
				if w.id != nil {
					if err := br.QueryRow().Scan(w.id); err != nil {
						return err
					}
				} else if _, err := br.Exec(); err != nil {
					return err
				}
			}
			if query == "" {
				return nil
			}
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if query == "COMMIT" && tag.String() == "ROLLBACK" {
				return errCommitRolledBack
			}
			n = tag.RowsAffected()
			return nil
		}()
		return errors.Join(err, br.Close())
	})
	if err == nil && query == "COMMIT" {
		t.begun = false
	}
	return n, err
}

// rollback ends an open transaction; a connection that cannot is marked bad
// so the pool closes it.
func (t *pgTx) rollback() {
	t.waiting = nil
	_ = t.conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		if _, err := c.Exec(context.Background(), "ROLLBACK"); err != nil {
			_ = c.Close(context.Background())
			return driver.ErrBadConn
		}
		return nil
	})
	t.begun = false
}
