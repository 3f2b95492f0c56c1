package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestParseURIMySQL(t *testing.T) {
	cfg, err := ParseURI("mysql://app:p%40ss%2Fw%3Ard%3F%23%25@db.example/secrets?tls=skip-verify&readTimeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dialect != MySQL {
		t.Fatalf("dialect %q", cfg.Dialect)
	}
	my, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		t.Fatalf("the DSN does not parse back: %v", err)
	}
	if my.User != "app" || my.Passwd != "p@ss/w:rd?#%" || my.Net != "tcp" || my.Addr != "db.example:3306" || my.DBName != "secrets" {
		t.Errorf("user %q passwd %q net %q addr %q db %q", my.User, my.Passwd, my.Net, my.Addr, my.DBName)
	}
	if !my.ParseTime || my.Loc != time.UTC || my.TLSConfig != "skip-verify" || my.ReadTimeout != 5*time.Second || my.ClientFoundRows {
		t.Errorf("parseTime %v loc %v tls %q readTimeout %v clientFoundRows %v", my.ParseTime, my.Loc, my.TLSConfig, my.ReadTimeout, my.ClientFoundRows)
	}
	if cfg, err := ParseURI("mysql://root@[::1]/db"); err != nil || !strings.Contains(cfg.DSN, "tcp([::1]:3306)/db") {
		t.Errorf("IPv6: %q, %v", cfg.DSN, err)
	}
	for _, bad := range []string{"mysql://root@h", "mysql://root@h/a/b", "mysql://root@h/db?tls=nope", "mysql://u:%zz@h/db"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "%zz") {
			t.Errorf("ParseURI(%q) quotes the password: %v", bad, err)
		}
	}
}

func TestParseURISQLite(t *testing.T) {
	for uri, want := range map[string]string{
		"sqlite://db.sqlite":              "db.sqlite",
		"sqlite://data/db.sqlite":         "data/db.sqlite",
		"sqlite:///var/lib/nosana/db.sql": "/var/lib/nosana/db.sql",
		"sqlite://./db.sqlite":            "./db.sqlite",
	} {
		if cfg, err := ParseURI(uri); err != nil || cfg.Dialect != SQLite || cfg.DSN != want {
			t.Errorf("ParseURI(%q) = %+v, %v; want path %q", uri, cfg, err, want)
		}
	}
	for _, bad := range []string{"sqlite://", "sqlite://db.sqlite?mode=ro", "sqlite://:memory:", "sqlite://file:x.db", "sqlite://dir/"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		}
	}
}
