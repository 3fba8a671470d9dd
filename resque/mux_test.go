package resque

import (
	"context"
	"testing"
)

// Issue 7 item 9: PHP folds class names ASCII only (zend_str_tolower); the Mux folded
// them with Unicode rules, so a job of class "\u212A" (the Kelvin sign) reached the handler
// of "k", a class PHP keeps apart.
func TestMuxFoldsClassNamesASCIIOnly(t *testing.T) {
	mux := NewMux()
	mux.HandleFunc("k", func(context.Context, *Job) error { return nil })
	mux.HandleFunc(`App\Jobs\SendMail`, func(context.Context, *Job) error { return nil })
	mux.HandleFunc("Ünïcode", func(context.Context, *Job) error { return nil })
	for class, want := range map[string]bool{
		"K":                   true,
		"\u212A":              false, // Kelvin sign: strings.ToLower gives "k"
		`\app\jobs\sendmail`:  true,
		`APP\JOBS\SENDMAIL`:   true,
		"Ünïcode":             true,
		"ÜNÏCODE":             false, // PHP does not fold non-ASCII letters
		"ünïcode":             false,
		"\u0130":              false, // İ: strings.ToLower gives "i̇"
		`\\App\Jobs\SendMail`: false,
	} {
		if _, ok := mux.Handler(class); ok != want {
			t.Errorf("Handler(%q) found = %v, want %v", class, ok, want)
		}
	}
}
