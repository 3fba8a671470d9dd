// Package resque is a php-resque wire-compatible worker and enqueuer.
package resque
