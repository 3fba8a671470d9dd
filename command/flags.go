package command

import "github.com/urfave/cli/v2"

func redisFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis", Usage: "Redis to use: host:port, redis://[user:pass@]host:port/db, rediss://..., or a unix socket path (env REDIS_BACKEND; default localhost:6379)"},
		&cli.StringFlag{Name: "db", Usage: "database number (env REDIS_BACKEND_DB)"},
		&cli.StringFlag{Name: "redis-username", Usage: "ACL user name (env REDIS_USERNAME)"},
		&cli.StringFlag{Name: "redis-password-file", Usage: "read the Redis password from this file (env REDIS_PASSWORD_FILE; or REDIS_PASSWORD)"},
		&cli.StringFlag{Name: "tls-ca", Usage: "CA certificate for rediss:// (env REDIS_TLS_CA_FILE)"},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate for rediss:// (env REDIS_TLS_CERT_FILE)"},
		&cli.StringFlag{Name: "tls-key", Usage: "client key for rediss:// (env REDIS_TLS_KEY_FILE)"},
		&cli.StringFlag{Name: "tls-server-name", Usage: "server name to verify (env REDIS_TLS_SERVER_NAME)"},
		&cli.BoolFlag{Name: "tls-insecure-skip-verify", Usage: "do not verify the server certificate (env REDIS_TLS_INSECURE_SKIP_VERIFY)"},
		&cli.StringFlag{Name: "prefix", Usage: "key namespace (env PREFIX; default resque)"},
		&cli.StringFlag{Name: "dialect", Usage: "php-resque-136 (resque/php-resque 1.3) or php-resque-1 (chrisboulton/php-resque) (env GORESQUE_DIALECT)"},
	}
}
