package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/benchfloor"
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

// bareAppend is the floor of durable appends: benchfloor's group commit straight on Badger
// (one transaction and one Sync per batch, no validation, no JSON), the same loop as the
// eventstore's BenchmarkAppendBareBadger, at the given concurrency for d.
func bareAppend(ctx context.Context, dir string, workers int, d time.Duration) (runResult, error) {
	db, err := benchfloor.Open(dir)
	if err != nil {
		return runResult{}, err
	}
	defer db.Close()
	const maxBatch = 256
	g, err := benchfloor.Start(db, typicalEventBody(), maxBatch)
	if err != nil {
		return runResult{}, err
	}
	var pos atomic.Uint64
	dones := make([]chan error, workers)
	for i := range dones {
		dones[i] = make(chan error, 1)
	}
	res := closedLoop(ctx, workers, d, func(ctx context.Context, w, i int) error {
		key := make([]byte, 9)
		key[0] = 'e'
		binary.BigEndian.PutUint64(key[1:], pos.Add(1))
		return g.Append(key, dones[w])
	})
	g.Close()
	if res.ops == 0 {
		return res, errors.Join(fmt.Errorf("bare append: no append succeeded"), res.firstErr)
	}
	return res, nil
}
