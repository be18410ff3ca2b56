package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

const echoSubject = "rosterbench.echo"

// startEcho adds a bare micro echo service on its own connection to the same server (the
// floor of request/reply): it answers every request with its own body, inline.
func startEcho(url string) (func(), error) {
	nc, err := nats.Connect(url, nats.Name("rosterbench-echo"))
	if err != nil {
		return nil, err
	}
	svc, err := micro.AddService(nc, micro.Config{Name: "rosterbench_echo", Version: "0.0.1"})
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := svc.AddEndpoint("echo", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond(r.Data()) }),
		micro.WithEndpointSubject(echoSubject)); err != nil {
		nc.Close()
		return nil, err
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	return func() { _ = svc.Stop(); nc.Close() }, nil
}

// typicalEventBody is the JSON of a stored MemberAdded record, the size the log stores.
func typicalEventBody() []byte {
	data, _ := json.Marshal(domain.MemberAdded{Target: domain.Target{ProjectID: "p12"},
		Principal: domain.Principal{UserID: "o42u77"}, Roles: []string{"contributor"}})
	b, _ := json.Marshal(eventstore.Record{ID: commands.NewUUIDv7(), Position: 123456, Stream: "org-o42", Version: 321,
		Type: domain.EvMemberAdded, Time: time.Now().UTC(), OrgID: "o42", Actor: "o42u0", CommandID: "load-o42-321",
		CorrelationID: "load-o42-321", Data: data})
	return b
}

// bareAppend is the floor of durable appends: a group commit straight on Badger (one
// transaction and one Sync per batch, no validation, no JSON), as the eventstore's
// BenchmarkAppendBareBadger, at the given concurrency for d.
func bareAppend(ctx context.Context, dir string, workers int, d time.Duration) (runResult, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(false).WithDetectConflicts(false).WithLogger(nil))
	if err != nil {
		return runResult{}, err
	}
	defer db.Close()
	body := typicalEventBody()
	type req struct {
		key  []byte
		done chan error
	}
	const maxBatch = 256
	reqs := make(chan req, maxBatch)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		batch := make([]req, 0, maxBatch)
		for r := range reqs {
			batch = append(batch[:0], r)
		drain:
			for len(batch) < maxBatch {
				select {
				case r, ok := <-reqs:
					if !ok {
						break drain
					}
					batch = append(batch, r)
				default:
					break drain
				}
			}
			txn := db.NewTransaction(true)
			var err error
			for _, r := range batch {
				if err = txn.Set(r.key, body); err != nil {
					break
				}
			}
			if err == nil {
				err = txn.Commit()
			} else {
				txn.Discard()
			}
			if err == nil {
				err = db.Sync()
			}
			for _, r := range batch {
				r.done <- err
			}
		}
	}()
	var pos atomic.Uint64
	dones := make([]chan error, workers)
	for i := range dones {
		dones[i] = make(chan error, 1)
	}
	res := closedLoop(ctx, workers, d, func(ctx context.Context, w, i int) error {
		key := make([]byte, 9)
		key[0] = 'e'
		binary.BigEndian.PutUint64(key[1:], pos.Add(1))
		reqs <- req{key: key, done: dones[w]}
		return <-dones[w]
	})
	close(reqs)
	<-stopped
	if res.ops == 0 {
		return res, errors.Join(fmt.Errorf("bare append: no append succeeded"), res.firstErr)
	}
	return res, nil
}
