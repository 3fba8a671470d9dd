package resque

import "time"

// Test hooks: a fixed clock and pid for a Config.
func (c *Config) SetNow(f func() time.Time) { c.now = f }
func (c *Config) SetPID(pid int)            { c.pid = pid }
func (c *Client) SetNow(f func() time.Time) { c.now = f }
