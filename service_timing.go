package authgin

import (
	"context"
	"sync/atomic"
	"time"
)

// latencyEcho lets the cheap branch of a route take as long as its costly
// branch usually does, so that response times do not tell them apart.
// forgot_password is the case: for a registered address it stores a token
// and sends a mail during the request; for an unknown one it has nothing
// to do. The costly branch reports its duration (a moving average is
// kept); the cheap one sleeps until that much time has passed since the
// request began.
type latencyEcho struct {
	avg atomic.Int64 // nanoseconds; 0 until the first observation
}

// maxEcho caps what one observation contributes (a slow SMTP server, mail
// retries), so an outlier cannot make cheap requests sleep for long.
const maxEcho = 2 * time.Second

func (l *latencyEcho) observe(d time.Duration) {
	d = min(d, maxEcho)
	old := l.avg.Load()
	if old == 0 {
		l.avg.Store(int64(d))
		return
	}
	// A lost update under concurrency only drops one sample.
	l.avg.Store(old + (int64(d)-old)/8)
}

// pad sleeps until the usual duration has passed since start, or until ctx
// ends.
func (l *latencyEcho) pad(ctx context.Context, start time.Time) {
	d := time.Duration(l.avg.Load()) - time.Since(start)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
