package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// Variable names Load treats specially.
const (
	appEnv       = "APP_ENV"
	nodeEnv      = "NODE_ENV" // alias of APP_ENV; APP_ENV wins when both are set
	authRequired = "AUTH_REQUIRED"
)

// Load builds the configuration from the process environment and, when
// envFile names an existing file, that dotenv file; the environment wins over
// the file, and Default fills whatever neither sets. An empty variable counts
// as unset (viper's rule), so "PORT=" means the default, not an error.
// A missing envFile is fine (pass "" to skip it); an unreadable or malformed
// one is an error. Any problem with the values yields one *Error naming every
// bad variable. AUTH_REQUIRED, when unset, is true exactly in production.
func Load(envFile string) (*Config, error) {
	v, err := newViper(envFile)
	if err != nil {
		return nil, err
	}
	c := Default()
	var found problems
	from := read(c, v, &found)
	if from[authRequired] == "" {
		c.AuthRequired = c.Production()
	}

	var checked problems
	validate(c, &checked)
	for _, q := range checked.list {
		if q.Var == appEnv && from[appEnv] != "" {
			q.Var = from[appEnv] // name NODE_ENV when that is what was set
		}
		// A value that did not parse was left at its default; checking
		// that default would only add a confusing second message.
		if !found.has(q.Var) {
			found.list = append(found.list, q)
		}
	}
	if err := found.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// newViper returns a fresh viper, never the global one, with every variable
// bound to the environment and the dotenv file, if any, read in.
// Viper lower-cases keys; BindEnv(key, NAME) keeps the environment lookup on
// the upper-case NAME, and Get lower-cases its argument to match the file.
func newViper(envFile string) (*viper.Viper, error) {
	v := viper.New()
	v.SetConfigType("env")
	for _, name := range envNames() {
		if err := v.BindEnv(name, name); err != nil {
			return nil, fmt.Errorf("binding %s: %w", name, err)
		}
	}
	if envFile == "" {
		return v, nil
	}
	data, err := os.ReadFile(envFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return v, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", envFile, err)
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("parsing %s: %s", envFile, hideLine(err.Error(), data))
	}
	return v, nil
}

// hideLine replaces the copy of an offending line that the dotenv parser puts
// in its errors ("line `...` doesn't match format") with the line's number:
// the line may hold a secret, and this error is printed at startup.
func hideLine(msg string, data []byte) string {
	const open = "line `"
	i := strings.Index(msg, open)
	j := strings.LastIndexByte(msg, '`')
	if i < 0 || j < i+len(open) {
		return msg
	}
	where := "a line"
	if k := bytes.Index(data, []byte(msg[i+len(open):j])); k >= 0 {
		where = "line " + strconv.Itoa(bytes.Count(data[:k], []byte("\n"))+1)
	}
	return msg[:i] + where + " (content not shown)" + msg[j+1:]
}
