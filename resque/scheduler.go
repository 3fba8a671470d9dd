package resque

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
	"github.com/rs/zerolog"
)

// SchedulerConfig configures a Scheduler. The zero value works: namespace "resque:", the
// php-resque-1 dialect's payloads, a pass every 5 seconds, no logging.
type SchedulerConfig struct {
	// Namespace is the key prefix; "" means "resque:".
	Namespace string
	// Dialect chooses the payload the moved jobs get (v1.3.6 adds "prefix":"").
	Dialect Dialect
	// Interval is the pause between passes; zero means 5s, php-resque-scheduler's default.
	Interval time.Duration
	// Logger receives one line per moved job at debug level and errors; zero means none.
	Logger zerolog.Logger
	// Hostname names the scheduler in failure records of items it cannot enqueue; ""
	// means os.Hostname().
	Hostname string
}

// Scheduler moves delayed jobs whose time has come onto their queues, as
// php-resque-scheduler's ResqueScheduler_Worker does (resque-scheduler.php): oldest
// timestamp first, each timestamp's items in order, each pushed as Resque::enqueue pushes
// a job, with a fresh id and queue_time and no status tracking (golden 30).
//
// Unlike php-resque-scheduler's LPOP-then-RPUSH, each move is one Lua step that takes the
// item only if it is still at the head of its list: any number of goresque schedulers,
// php-resque-scheduler and Ruby resque-scheduler can run against one Redis and no job is
// moved twice or lost, even when a scheduler dies midway.
type Scheduler struct {
	client   *Client
	interval time.Duration
	log      zerolog.Logger
	worker   string
}

// NewScheduler returns a Scheduler using pool, which the caller owns.
func NewScheduler(pool *redis.Pool, cfg SchedulerConfig) (*Scheduler, error) {
	if pool == nil {
		return nil, errors.New("resque: scheduler: nil pool")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("resque: scheduler: negative interval %s", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("resque: scheduler: hostname: %w", err)
		}
		cfg.Hostname = h
	}
	return &Scheduler{
		client:   NewClient(pool, ClientConfig{Namespace: cfg.Namespace, Dialect: cfg.Dialect}),
		interval: cfg.Interval,
		log:      cfg.Logger.With().Str("component", "scheduler").Logger(),
		worker:   cfg.Hostname + ":" + strconv.Itoa(os.Getpid()) + ":scheduler",
	}, nil
}

// Run makes a pass every interval until ctx is done. Cancelling ctx stops it after the
// current pass (as php-resque v1.3.6's scheduler stops on QUIT, TERM or INT): a pass is
// never cut short, so no timestamp is left half moved by this scheduler. A Redis error is
// logged and the next pass tries again. Run returns nil when ctx is done.
func (s *Scheduler) Run(ctx context.Context) error {
	s.log.Info().Dur("interval", s.interval).Msg("scheduler started")
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.log.Info().Msg("scheduler stopped")
			return nil
		case <-t.C:
		}
		if _, err := s.Pass(context.WithoutCancel(ctx)); err != nil {
			s.log.Error().Err(err).Msg("scheduler pass failed")
		}
		t.Reset(s.interval)
	}
}

// schedulerBatch is how many items of one timestamp a single move step takes.
const schedulerBatch = 100

// Pass moves every job due now and returns how many this scheduler moved, as one run of
// ResqueScheduler_Worker::handleDelayedItems.
func (s *Scheduler) Pass(ctx context.Context) (int, error) {
	c := s.client
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: scheduler: %w", err)
	}
	defer conn.Close()
	now := c.now().Unix()
	moved := 0
	for {
		tss, err := redis.Strings(conn.Do("ZRANGEBYSCORE", c.keys.DelayedSchedule(), "-inf", now, "LIMIT", 0, 1))
		if err != nil {
			return moved, fmt.Errorf("resque: scheduler: %w", err)
		}
		if len(tss) == 0 {
			return moved, nil
		}
		n, err := s.moveSome(conn, tss[0])
		moved += n
		if err != nil {
			return moved, fmt.Errorf("resque: scheduler: timestamp %s: %w", tss[0], err)
		}
	}
}

// moveDelayedScript moves items from the head of one timestamp's list to their queues,
// each only if it is still the head item the caller read (another scheduler may have taken
// it meanwhile: then it stops), and deletes the timestamp once its list is empty, as
// php-resque-scheduler's nextItemForTimestamp and cleanupTimestamp do, in one atomic step.
// An item that cannot be enqueued goes to `failed` with the record the caller built.
//
//	KEYS[1] delayed_queue_schedule   KEYS[2] delayed:<ts>   KEYS[3] queues
//	KEYS[2+2i] queue:<q> (or failed) for item i (from 1)   KEYS[3+2i] timestamps:<item i>
//	ARGV[1] ts   per item i, from ARGV[2+3(i-1)]: the item's bytes, its queue name ("" for
//	an item going to failed), the payload (or failure record) to push
//
// Returns the number of items moved.
var moveDelayedScript = redis.NewScript(-1, `
local moved = 0
local n = (#ARGV - 1) / 3
for i = 1, n do
  local a = 2 + 3 * (i - 1)
  if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[a] then
    break
  end
  redis.call('LPOP', KEYS[2])
  redis.call('SREM', KEYS[3 + 2 * i], KEYS[2])
  if ARGV[a + 1] ~= '' then
    redis.call('SADD', KEYS[3], ARGV[a + 1])
  end
  redis.call('RPUSH', KEYS[2 + 2 * i], ARGV[a + 2])
  moved = moved + 1
end
if redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return moved
`)

// moveSome reads up to schedulerBatch items at the head of ts's list and moves them.
func (s *Scheduler) moveSome(conn redis.Conn, ts string) (int, error) {
	c := s.client
	dkey := c.keys.Delayed(ts)
	items, err := redis.ByteSlices(conn.Do("LRANGE", dkey, 0, schedulerBatch-1))
	if err != nil {
		return 0, err
	}
	keys := []any{c.keys.DelayedSchedule(), dkey, c.keys.Queues()}
	args := []any{ts}
	for _, it := range items {
		target, queue, push, err := s.moveTarget(it)
		if err != nil {
			return 0, err
		}
		keys = append(keys, target, c.keys.DelayedTimestamps(string(it)))
		args = append(args, it, queue, push)
	}
	n, err := redis.Int(moveDelayedScript.Do(conn, append(append([]any{len(keys)}, keys...), args...)...))
	if err != nil {
		return 0, err
	}
	for _, it := range items[:n] {
		if d, err := decodeDelayedItem(it); err == nil {
			s.log.Debug().Str("class", d.class).Str("queue", d.queue).Str("at", ts).Msg("queueing delayed job")
		} else {
			s.log.Warn().Str("at", ts).Bytes("item", it).Err(err).Msg("delayed item cannot be enqueued: recorded in failed")
		}
	}
	return n, nil
}

// moveTarget returns where a delayed item goes: its queue key, queue name and the payload
// Resque::enqueue would push for it; or, for an item php-resque-scheduler could not
// enqueue, the failed list and a failure record keeping the item's bytes.
func (s *Scheduler) moveTarget(item []byte) (key, queue string, push []byte, err error) {
	c := s.client
	d, derr := decodeDelayedItem(item)
	if derr != nil {
		je := &JobError{Exception: ExceptionInvalidPayload, Message: derr.Error(), Backtrace: []string{"#0 {main}"}}
		rec, err := failureRecord(c.dialect, c.now(), item, je, s.worker, "")
		if err != nil {
			return "", "", nil, err
		}
		return c.keys.Failed(), "", rec, nil
	}
	id := d.id
	if !plainID(id) {
		id = NewJobID()
	}
	p, err := delayedPayload(c.dialect, d, id, c.now())
	if err != nil {
		je := &JobError{Exception: ExceptionInvalidPayload, Message: err.Error(), Backtrace: []string{"#0 {main}"}}
		rec, err := failureRecord(c.dialect, c.now(), item, je, s.worker, d.queue)
		if err != nil {
			return "", "", nil, err
		}
		return c.keys.Failed(), "", rec, nil
	}
	return c.keys.Queue(d.queue), d.queue, p, nil
}

// delayedPayload is the payload Resque::enqueue($queue, $class, $args[0]) pushes for a
// delayed item, as php-resque-scheduler's worker calls it: {"class","args","id",
// ["prefix":"",]"queue_time"}. The item's args array is kept byte for byte: for an item
// PHP wrote it is [A], exactly what Resque::enqueue writes again; an item Ruby wrote with
// several arguments keeps them all (php-resque-scheduler would pass the second one as
// $trackStatus). A goresque retry's item keeps its job's id and prefix (so its status
// stays tracked) and its attempt number, which php-resque-scheduler would drop.
func delayedPayload(d Dialect, it delayedFields, id string, now time.Time) ([]byte, error) {
	b := make([]byte, 0, len(it.args)+len(it.class)+100)
	b = append(b, `{"class":`...)
	var err error
	if b, err = phpjson.AppendString(b, it.class); err != nil {
		return nil, fmt.Errorf("class: %w", err)
	}
	b = append(b, `,"args":`...)
	b = append(b, it.args...)
	b = append(b, `,"id":"`...)
	b = append(b, id...)
	b = append(b, '"')
	if it.prefix != "" {
		b = append(b, `,"prefix":`...)
		if b, err = phpjson.AppendString(b, it.prefix); err != nil {
			return nil, fmt.Errorf("prefix: %w", err)
		}
	} else if d == DialectPHPResque136 {
		b = append(b, `,"prefix":""`...)
	}
	b = append(b, `,"queue_time":`...)
	b = phpjson.AppendMicrotime(b, now)
	if it.attempt > 1 {
		b = append(b, `,"`+attemptKey+`":`...)
		b = strconv.AppendInt(b, int64(it.attempt), 10)
	}
	return append(b, '}'), nil
}

// Dialect returns the dialect of the payloads the client writes.
func (c *Client) Dialect() Dialect { return c.dialect }

// plainID reports whether a delayed item's id can be kept as the job's id: written into
// the payload unescaped, it is letters, digits, '-' and '_' only, as every resque id is.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
