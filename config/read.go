package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// envTag returns the variable name and options of a Config field's env tag.
func envTag(f reflect.StructField) (name, opts string) {
	name, opts, _ = strings.Cut(f.Tag.Get("env"), ",")
	return name, opts
}

// hasOpt reports whether the comma-separated opts contain opt.
func hasOpt(opts, opt string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// envNames lists every variable Load reads, in Config field order, then the
// NODE_ENV alias.
func envNames() []string {
	t := reflect.TypeFor[Config]()
	names := make([]string, 0, t.NumField()+1)
	for i := range t.NumField() {
		name, _ := envTag(t.Field(i))
		names = append(names, name)
	}
	return append(names, nodeEnv)
}

// read overwrites each field of c whose variable is set (non-empty) in v,
// adding a problem for each value that does not parse; such fields keep
// their default. It returns, per variable that was set, the name it was
// actually read from: itself, or NODE_ENV for APP_ENV.
func read(c *Config, v *viper.Viper, p *problems) map[string]string {
	from := make(map[string]string)
	rv := reflect.ValueOf(c).Elem()
	t := rv.Type()
	for i := range t.NumField() {
		name, opts := envTag(t.Field(i))
		used, raw := name, v.GetString(name)
		if raw == "" && name == appEnv {
			used, raw = nodeEnv, v.GetString(nodeEnv)
		}
		if raw == "" {
			continue
		}
		from[name] = used
		if !hasOpt(opts, "secret") {
			raw = strings.TrimSpace(raw)
		}
		if hasOpt(opts, "lower") {
			raw = strings.ToLower(raw)
		}
		for _, msg := range setField(rv.Field(i).Addr().Interface(), raw) {
			p.add(used, msg)
		}
	}
	return from
}

// setField parses raw into the field dst points to, by the field's type,
// returning why it could not. Strings are taken as they are; their rules
// live in validate.
func setField(dst any, raw string) []string {
	var err error
	switch d := dst.(type) {
	case *string:
		*d = raw
	case *bool:
		err = into(d, raw, parseBool)
	case *int:
		err = into(d, raw, parseInt[int])
	case *int64:
		err = into(d, raw, parseInt[int64])
	case *uint64:
		err = into(d, raw, parseUint)
	case *float64:
		err = into(d, raw, parseFloat)
	case *time.Duration:
		err = into(d, raw, parseMillis)
	case *[]string:
		*d = items(raw)
	case *[]netip.Prefix:
		err = into(d, raw, parsePrefixes)
	case *[]StatusRange:
		err = into(d, raw, parseStatusRanges)
	case *map[string][]string:
		m, msgs := parseUpstreams(raw)
		if len(msgs) == 0 {
			*d = m
		}
		return msgs
	default:
		err = fmt.Errorf("internal error: no parser for %T", dst)
	}
	if err != nil {
		return []string{err.Error()}
	}
	return nil
}

// into stores parse(raw) in *dst only when it parses, so a bad value leaves
// the default in place.
func into[T any](dst *T, raw string, parse func(string) (T, error)) error {
	v, err := parse(raw)
	if err == nil {
		*dst = v
	}
	return err
}
