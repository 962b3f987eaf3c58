package config

import (
	"reflect"
	"sort"
	"strings"
)

// Problem is one reason one variable is unusable.
type Problem struct {
	Var string // the environment variable, such as "PORT" (or "NODE_ENV" when the alias was used)
	Msg string // why; never contains a secret's value
}

// Error is every configuration problem found in one load, so one failed start
// tells the operator everything to fix instead of one thing at a time.
// Problems are in the order of the Config fields; a variable may have several.
type Error struct {
	Problems []Problem
}

// Error renders one "VAR: why" line per problem.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Var)
		b.WriteString(": ")
		b.WriteString(p.Msg)
	}
	return b.String()
}

// problems collects Problems while loading and validating.
type problems struct {
	list []Problem
}

func (p *problems) add(name, msg string) {
	p.list = append(p.list, Problem{Var: name, Msg: msg})
}

// has reports whether some problem names the variable.
func (p *problems) has(name string) bool {
	for _, q := range p.list {
		if q.Var == name {
			return true
		}
	}
	return false
}

// err returns nil when there are no problems, else an *Error sorted into
// Config field order (stable, so one variable's problems keep their order).
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	order := fieldOrder()
	list := append([]Problem(nil), p.list...)
	sort.SliceStable(list, func(i, j int) bool { return order[list[i].Var] < order[list[j].Var] })
	return &Error{Problems: list}
}

// fieldOrder maps each variable name, and the NODE_ENV alias, to the index of
// its Config field.
func fieldOrder() map[string]int {
	t := reflect.TypeFor[Config]()
	order := make(map[string]int, t.NumField()+1)
	for i := range t.NumField() {
		name, _ := envTag(t.Field(i))
		order[name] = i
	}
	order[nodeEnv] = order[appEnv]
	return order
}
