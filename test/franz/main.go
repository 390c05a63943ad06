// Command franz drives franz-go (kgo) and its admin client (kadm) against a
// Kafka broker for test/t/125_franz.pl.  Each subcommand prints one JSON
// object on its last line of stdout; errors are in it, never a panic.
//
//	franz [-b host:port] [-user U -pass P] SUBCOMMAND ARGS
//
//	versions                      the broker's ApiVersions and the version
//	                              franz-go uses for each API (min of both)
//	create TOPIC PARTITIONS       kadm: create, then list, describe (configs
//	                              and metadata with the topic id)
//	produce TOPIC FROM N          N keyed records k-FROM.. (idempotent,
//	                              acks=all: franz-go's defaults), synchronously
//	consume TOPIC GROUP N         a group member (cooperative-sticky, the
//	                              default balancer) polls until it has N records
//	                              (or 20 s), describes its group, commits,
//	                              polls 1 s more for extras and leaves
//	lag GROUP                     kadm: list groups, fetch offsets, lag
//	epoch TOPIC PARTITIONS        kadm: OffsetForLeaderEpoch of epoch 0 and
//	                              of epoch 7 for each partition
//	maxts TOPIC                   4 records in one batch to partition 0 with
//	                              timestamps t, t+3s, t+2s, t+1s; kadm:
//	                              ListOffsets for the max timestamp (-3)
//	delete TOPIC                  kadm: delete, then list again
//
// Built by scripts/deps.sh into /opt/nagare-test/franz with the modules of
// go.sum (franz-go v1.22.3, kadm v1.20.0).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type result map[string]any

var (
	boot = flag.String("b", "127.0.0.1:9092", "bootstrap broker")
	user = flag.String("user", "", "SASL/SCRAM-SHA-256 user (none: no SASL)")
	pass = flag.String("pass", "", "SASL/SCRAM-SHA-256 password")
)

func out(r result) {
	b, err := json.Marshal(r)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"ok":false,"error":%q}`, err.Error()))
	}
	fmt.Println(string(b))
}

func fail(r result, err error) {
	r["ok"] = false
	r["error"] = err.Error()
	out(r)
	os.Exit(1)
}

func opts(extra ...kgo.Opt) []kgo.Opt {
	o := []kgo.Opt{
		kgo.SeedBrokers(*boot),
		kgo.ClientID("nagare-franz-test"),
		kgo.RetryTimeout(15 * time.Second),
	}
	if *user != "" {
		o = append(o, kgo.SASL(scram.Auth{User: *user, Pass: *pass}.AsSha256Mechanism()))
	}
	return append(o, extra...)
}

func client(r result, extra ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(opts(extra...)...)
	if err != nil {
		fail(r, err)
	}
	return cl
}

func main() {
	flag.Parse()
	args := flag.Args()
	r := result{"ok": true}
	if len(args) < 1 {
		fail(r, errors.New("no subcommand"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	r["cmd"] = args[0]
	need := func(n int) {
		if len(args) != n+1 {
			fail(r, fmt.Errorf("%s takes %d arguments", args[0], n))
		}
	}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			fail(r, err)
		}
		return n
	}
	switch args[0] {
	case "versions":
		need(0)
		versions(ctx, r)
	case "create":
		need(2)
		create(ctx, r, args[1], atoi(args[2]))
	case "produce":
		need(3)
		produce(ctx, r, args[1], atoi(args[2]), atoi(args[3]))
	case "consume":
		need(3)
		consume(ctx, r, args[1], args[2], atoi(args[3]))
	case "lag":
		need(1)
		lag(ctx, r, args[1])
	case "epoch":
		need(2)
		epoch(ctx, r, args[1], atoi(args[2]))
	case "maxts":
		need(1)
		maxts(ctx, r, args[1])
	case "delete":
		need(1)
		deleteTopic(ctx, r, args[1])
	default:
		fail(r, fmt.Errorf("unknown subcommand %q", args[0]))
	}
	out(r)
}

// versions: what the broker advertises, and what franz-go picks for each
// API: the lower of the broker's highest and its own (kversion.Stable()).
func versions(ctx context.Context, r result) {
	cl := client(r)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		fail(r, err)
	}
	mine := kversion.Stable()
	used := map[string]int{}
	for _, v := range vs {
		if v.Err != nil {
			fail(r, v.Err)
		}
		v.EachKeySorted(func(key, min, max int16) {
			cmax, ok := mine.LookupMaxKeyVersion(key)
			if !ok {
				return
			}
			if cmax < max {
				max = cmax
			}
			if max >= min {
				used[kmsg.NameForKey(key)] = int(max)
			}
		})
		r["guess"] = v.VersionGuess()
	}
	r["used"] = used
}

func create(ctx context.Context, r result, topic string, parts int) {
	cl := client(r)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cr, err := adm.CreateTopic(ctx, int32(parts), -1, map[string]*string{"retention.ms": kadm.StringPtr("86400000")}, topic)
	if err != nil {
		fail(r, err)
	}
	if cr.Err != nil {
		fail(r, cr.Err)
	}
	r["created_id"] = cr.ID.String()
	// the broker learns the topic a moment after the worker committed it
	var td kadm.TopicDetail
	for i := 0; i < 50; i++ {
		tds, err := adm.ListTopics(ctx)
		if err != nil {
			fail(r, err)
		}
		if d, ok := tds[topic]; ok && d.Err == nil && len(d.Partitions) == parts {
			td = d
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r["listed"] = td.Topic == topic
	r["listed_id"] = td.ID.String()
	r["partitions"] = len(td.Partitions)
	leaders := map[int32]bool{}
	for _, p := range td.Partitions {
		leaders[p.Leader] = true
	}
	r["leaders"] = len(leaders)
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		fail(r, err)
	}
	c, err := rc.On(topic, nil)
	if err != nil {
		fail(r, err)
	}
	if c.Err != nil {
		fail(r, c.Err)
	}
	for _, kv := range c.Configs {
		if kv.Key == "retention.ms" {
			r["retention_ms"] = kv.MaybeValue()
			r["retention_ms_source"] = kv.Source.String()
		}
	}
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		fail(r, err)
	}
	r["cluster"] = m.Cluster
	r["controller"] = m.Controller
	r["brokers"] = len(m.Brokers)
}

func produce(ctx context.Context, r result, topic string, from, n int) {
	// franz-go's defaults: idempotent, acks=all; the sticky key partitioner
	// (murmur2 of the key, as Java's) spreads keyed records over partitions
	cl := client(r, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Key:     []byte(fmt.Sprintf("k-%d", from+i)),
			Value:   []byte(fmt.Sprintf("v-%d", from+i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("franz")}},
		}
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		fail(r, err)
	}
	byPart := map[string]int{}
	for _, rec := range res {
		byPart[strconv.Itoa(int(rec.Record.Partition))]++
	}
	r["produced"] = len(res)
	r["by_partition"] = byPart
	r["producer_id"] = res[0].Record.ProducerID
}

func consume(ctx context.Context, r result, topic, group string, n int) {
	cl := client(r,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	defer cl.Close()
	keys := map[string]bool{}
	got, dups := 0, 0
	var bad []string
	deadline := time.Now().Add(20 * time.Second)
	for got < n && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				bad = append(bad, fmt.Sprintf("%s/%d: %v", t, p, err))
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			got++
			k := string(rec.Key)
			if keys[k] {
				dups++
			}
			keys[k] = true
			if "v"+k[1:] != string(rec.Value) || len(rec.Headers) != 1 || string(rec.Headers[0].Value) != "franz" {
				bad = append(bad, "record "+k+" differs")
			}
		})
	}
	adm := kadm.NewClient(cl)
	dg, err := adm.DescribeGroups(ctx, group)
	if err == nil {
		if g, ok := dg[group]; ok {
			r["group_state"] = g.State
			r["group_protocol"] = g.Protocol
			r["group_members"] = len(g.Members)
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		bad = append(bad, "commit: "+err.Error())
	}
	// anything more than asked for is an extra the test counts
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	fs := cl.PollFetches(pctx)
	pcancel()
	extra := 0
	fs.EachRecord(func(*kgo.Record) { extra++ })
	cl.LeaveGroup()
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	r["consumed"] = got
	r["distinct"] = len(keys)
	r["duplicates"] = dups
	r["extra"] = extra
	if len(sorted) > 0 {
		r["first_key"] = sorted[0]
	}
	if len(bad) > 0 {
		r["ok"] = false
		if len(bad) > 5 {
			bad = bad[:5]
		}
		r["errors"] = bad
	}
}

func lag(ctx context.Context, r result, group string) {
	cl := client(r)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		fail(r, err)
	}
	_, r["listed"] = lg[group]
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		fail(r, err)
	}
	committed := int64(0)
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			committed += o.At
		}
	})
	r["committed_sum"] = committed
	ls, err := adm.Lag(ctx, group)
	if err != nil {
		fail(r, err)
	}
	l, ok := ls[group]
	if !ok {
		fail(r, errors.New("no lag for the group"))
	}
	if l.DescribeErr != nil || l.FetchErr != nil {
		fail(r, fmt.Errorf("describe: %v, fetch: %v", l.DescribeErr, l.FetchErr))
	}
	r["state"] = l.State
	r["lag"] = l.Lag.Total()
	r["lag_partitions"] = len(l.Lag.Sorted())
}

func deleteTopic(ctx context.Context, r result, topic string) {
	cl := client(r)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	dr, err := adm.DeleteTopic(ctx, topic)
	if err != nil {
		fail(r, err)
	}
	if dr.Err != nil {
		fail(r, dr.Err)
	}
	gone := false
	for i := 0; i < 50 && !gone; i++ {
		tds, err := adm.ListTopics(ctx)
		if err != nil {
			fail(r, err)
		}
		_, present := tds[topic]
		gone = !present
		if !gone {
			time.Sleep(100 * time.Millisecond)
		}
	}
	r["gone"] = gone
}

// epoch: where leader epoch 0 ends (the end offsets, summed) and what an
// epoch the partitions never had gives
func epoch(ctx context.Context, r result, topic string, parts int) {
	cl := client(r)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, e := range []int32{0, 7} {
		var req kadm.OffsetForLeaderEpochRequest
		for p := 0; p < parts; p++ {
			req.Add(topic, int32(p), e)
		}
		res, err := adm.OffsetForLeaderEpoch(ctx, req)
		if err != nil {
			fail(r, err)
		}
		sum, n := int64(0), 0
		epochs := map[string]int{}
		for _, ps := range res {
			for _, o := range ps {
				if o.Err != nil {
					fail(r, o.Err)
				}
				n++
				sum += o.EndOffset
				epochs[strconv.Itoa(int(o.LeaderEpoch))]++
			}
		}
		k := fmt.Sprintf("epoch%d", e)
		r[k+"_partitions"] = n
		r[k+"_end_sum"] = sum
		r[k+"_leader_epochs"] = epochs
	}
}

// maxts: the offset of the record with the largest timestamp, which is not
// the last of its batch
func maxts(ctx context.Context, r result, topic string) {
	cl := client(r, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(50*time.Millisecond))
	defer cl.Close()
	now := time.Now()
	var recs []*kgo.Record
	for _, d := range []time.Duration{0, 3 * time.Second, 2 * time.Second, time.Second} {
		recs = append(recs, &kgo.Record{Value: []byte("ts"), Partition: 0, Timestamp: now.Add(d)})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		fail(r, err)
	}
	first := res[0].Record.Offset
	adm := kadm.NewClient(cl)
	l, err := adm.ListMaxTimestampOffsets(ctx, topic)
	if err != nil {
		fail(r, err)
	}
	o, ok := l.Lookup(topic, 0)
	if !ok || o.Err != nil {
		fail(r, fmt.Errorf("no max timestamp offset: %v", o.Err))
	}
	r["relative_offset"] = o.Offset - first
	r["timestamp_ok"] = o.Timestamp == now.Add(3*time.Second).UnixMilli()
}
