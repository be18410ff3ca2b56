package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"roster/client"
)

// Retrying a busy server. A command refused with code unavailable was not taken: the server
// was stopping, or a bound of its queues or of the big appends in flight was reached (README,
// Limits); or its outcome is unknown (the server stopped while it was being written: the
// refusal says "outcome unknown"). Either way the same command id applies it at most once, so
// roster import sends it again, with the same body and command id, after a growing wait;
// anything else (an answer, another refusal, no reply in time) ends the attempts at once.
const (
	defaultRetries = 5
	maxRetries     = 20
	// The waits: retryFirst, then each about twice the last (±50%), at most retryMaxWait.
	retryFirst   = 250 * time.Millisecond
	retryMaxWait = 8 * time.Second
)

// retryPolicy says how often a busy refusal is retried and who hears of each retry.
type retryPolicy struct {
	retries int // attempts after the first
	// notify is told of each retry before its wait: its number (from 1), the refusal, the wait.
	notify func(n int, refusal *client.ErrorBody, wait time.Duration)
}

// outcomeUnknown is how the server's unavailable refusals say that the command may have been
// applied (eventstore: an append cut short by a stop or a deadline).
const outcomeUnknown = "outcome unknown"

// busyError carries a reply refused unavailable to the retry loop.
type busyError struct {
	raw     []byte
	refusal *client.ErrorBody
}

func (e *busyError) Error() string { return e.refusal.Code + ": " + e.refusal.Message }

// busyRefusal returns the refusal of a command reply refused unavailable, or nil.
func busyRefusal(raw []byte) *client.ErrorBody {
	var rep client.CommandReply
	if json.Unmarshal(raw, &rep) != nil || rep.OK || rep.Error == nil || rep.Error.Code != client.CodeUnavailable {
		return nil
	}
	return rep.Error
}

// requestRetrying sends body on subject, each attempt with its own timeout, and sends it again
// while the reply is a busy refusal, as p allows. It returns the last reply, refused or not,
// or the error of the attempt that got none; uncertain says that an attempt was refused with
// its outcome unknown, so that a failure in the end cannot say the command was not applied.
func requestRetrying(ctx context.Context, c *client.Client, subject string, body []byte, timeout time.Duration, p retryPolicy) (raw []byte, uncertain bool, err error) {
	attempt := func() ([]byte, error) {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		raw, err := c.Request(actx, subject, body)
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		if refusal := busyRefusal(raw); refusal != nil {
			uncertain = uncertain || strings.Contains(refusal.Message, outcomeUnknown)
			return raw, &busyError{raw: raw, refusal: refusal}
		}
		return raw, nil
	}
	waits := &backoff.ExponentialBackOff{InitialInterval: retryFirst, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: retryMaxWait}
	n := 0
	raw, err = backoff.Retry(ctx, attempt, backoff.WithBackOff(waits), backoff.WithMaxTries(uint(p.retries)+1),
		backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, wait time.Duration) {
			n++
			var busy *busyError
			if p.notify != nil && errors.As(err, &busy) {
				p.notify(n, busy.refusal, wait)
			}
		}))
	if busy := (*busyError)(nil); errors.As(err, &busy) {
		return busy.raw, uncertain, nil // the retries are spent: the last refusal is the answer
	}
	if perm := (*backoff.PermanentError)(nil); errors.As(err, &perm) {
		err = perm.Unwrap() // the last attempt's own error, when it was also the last allowed
	}
	return raw, uncertain, err
}
