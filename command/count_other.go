//go:build !linux

package command

import "syscall"

// countChildAttr: without Linux's parent-death signal, workers whose COUNT parent died
// (SIGKILL) keep running until they are stopped themselves; stop the parent with QUIT,
// TERM or INT, which it forwards.
func countChildAttr() *syscall.SysProcAttr { return nil }
