package resque

import (
	"fmt"

	"github.com/gomodule/redigo/redis"
)

// pipelined flushes the commands queued with conn.Send and returns their replies, failing
// when any one of them failed. redigo hands back the error of each pipelined command (or
// of each command of an EXEC) as a redis.Error element of the reply slice with a nil
// error, so a caller that only checks Do's error believes a refused write (READONLY, OOM,
// WRONGTYPE) succeeded. The returned error wraps the first failing command's redis.Error
// and names its position, and the replies are returned too so the caller can compensate
// for the commands that did succeed.
func pipelined(conn redis.Conn) ([]any, error) {
	replies, err := redis.Values(conn.Do(""))
	if err != nil {
		return replies, err
	}
	if err := replyErr(replies); err != nil {
		return replies, err
	}
	return replies, nil
}

// replyErr returns the first redis.Error among replies, wrapped with its position.
func replyErr(replies []any) error {
	for i, r := range replies {
		if e, ok := r.(redis.Error); ok {
			return fmt.Errorf("command %d of %d: %w", i+1, len(replies), e)
		}
	}
	return nil
}
