package mesoslocal_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// testExecutorEnv makes the test binary run as a tiny executor (see
// TestMain): it is launched by mesos-local's agent like any executor.
const testExecutorEnv = "MESOSLOCAL_TEST_EXECUTOR"

// runTestExecutor is a minimal mesos-go executor: on LAUNCH it lists the
// files in its volume ("data"), writes one named after the task and
// reports TASK_RUNNING with the listing as the message; on KILL it reports
// TASK_KILLED and exits; on SHUTDOWN it exits.
func runTestExecutor() int {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 2
	}
	codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	if os.Getenv("TEST_EXECUTOR_CODEC") == "json" {
		codec = codecs.ByMediaType[codecs.MediaTypeJSON]
	}
	api := url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: "/api/v1/executor"}
	cli := httpcli.New(httpcli.Endpoint(api.String()), httpcli.Codec(codec), httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))))
	opts := executor.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	sender := calls.SenderWith(httpexec.NewSender(cli.Send), opts...)
	subscriber := calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...)
	ctx := context.Background()
	update := func(id mesos.TaskID, state mesos.TaskState, msg string) error {
		uuid := make([]byte, 16)
		_, _ = rand.Read(uuid)
		st := mesos.TaskStatus{TaskID: id, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: uuid, Message: &msg,
			ExecutorID: &mesos.ExecutorID{Value: cfg.ExecutorID}}
		resp, err := sender.Send(ctx, calls.NonStreaming(calls.Update(st)))
		if resp != nil {
			resp.Close()
		}
		return err
	}
	resp, err := subscriber.Send(ctx, calls.NonStreaming(calls.Subscribe(nil, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "subscribe:", err)
		return 3
	}
	defer resp.Close()
	for {
		var e executor.Event
		if err := resp.Decode(&e); err != nil {
			fmt.Fprintln(os.Stderr, "stream:", err)
			return 4
		}
		switch e.Type {
		case executor.Event_LAUNCH:
			id := e.Launch.Task.TaskID
			dir := filepath.Join(cfg.Sandbox, "data")
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, en := range entries {
				names = append(names, en.Name())
			}
			sort.Strings(names)
			if err := os.WriteFile(filepath.Join(dir, id.Value), []byte("written by "+id.Value), 0o644); err != nil {
				_ = update(id, mesos.TASK_FAILED, "write volume: "+err.Error())
				continue
			}
			if err := update(id, mesos.TASK_RUNNING, "files:"+strings.Join(names, ",")); err != nil {
				fmt.Fprintln(os.Stderr, "update:", err)
			}
		case executor.Event_KILL:
			_ = update(e.Kill.TaskID, mesos.TASK_KILLED, "killed as asked")
			return 0
		case executor.Event_MESSAGE:
			_ = sendMessage(ctx, sender, append([]byte("echo:"), e.Message.Data...))
		case executor.Event_SHUTDOWN:
			return 0
		}
	}
}

func sendMessage(ctx context.Context, s calls.Sender, data []byte) error {
	resp, err := s.Send(ctx, calls.NonStreaming(calls.Message(data)))
	if resp != nil {
		resp.Close()
	}
	return err
}
