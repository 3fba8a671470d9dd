// Package command is goresque's command line: `goresque work` with the environment of
// php-resque's bin/resque, plus enqueue and inspection commands.
//
// A program that registers its own Go handlers gets the whole CLI from Main:
//
//	func main() {
//		mux := resque.NewMux()
//		mux.HandleFunc(`App\Jobs\SendMail`, sendMail)
//		os.Exit(command.Main(mux))
//	}
//
// Classes without a Go handler run as PHP classes through the PHP bridge (package compat)
// unless the mux already has a fallback.
//
// This package owns the process: it parses flags and environment with PHP's rules, turns
// signals into Worker calls, writes the PID file and picks exit codes. The resque package
// does none of that.
package command
