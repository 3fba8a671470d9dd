package resque

import "testing"

// The keys of the operation API, pinned to what php-resque-scheduler and Ruby resque
// (-scheduler) write.
func TestOperateKeys(t *testing.T) {
	t.Parallel()
	k := NewKeys("")
	for got, want := range map[string]string{
		k.DelayedSchedule():                            "resque:delayed_queue_schedule",
		k.Delayed("1795728023"):                        "resque:delayed:1795728023",
		k.DelayedTimestamps(`{"class":"C","args":[]}`): `resque:timestamps:{"class":"C","args":[]}`,
		k.PauseAllWorkers():                            "resque:pause-all-workers",
		NewKeys("myapp").PauseAllWorkers():             "myapp:pause-all-workers",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
