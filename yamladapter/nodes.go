package yamladapter

import (
	"bytes"
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// nodeBudget bounds the nodes one adaptation visits, counting every
// expansion of an alias and every key and value a merge (<<) copies: a
// "billion laughs" document of nested aliases, or a list of merges of one
// large mapping, is small as text but enormous once expanded. A config
// reusing an anchor even a hundred times stays far below 50 nodes per byte
// of input. The cap, 2^20 nodes (a plain file of a megabyte or more, some
// tens of thousands of routes), keeps the worst input to a fraction of a
// second of one core, since POST /load adapts what anyone who reaches the
// admin endpoint sends.
func nodeBudget(inputLen int) int { return min(4096+50*inputLen, 1<<20) }

// walker holds the state of one adaptation.
type walker struct {
	file    string
	lines   int // of the input, to keep positions inside it
	visited int
	budget  int
	// active holds the mappings and lists being walked, so that an alias
	// to one of them from inside itself is refused instead of looping.
	active map[*yaml.Node]bool
	// nodes maps a key path (`routes[1].backends[0].url`) to its value
	// node, so validation errors and warnings can name a line.
	nodes map[string]*yaml.Node
	// entries holds each mapping's entries once its merges are expanded,
	// so a mapping reached again through an alias is not expanded again.
	entries map[*yaml.Node][]pair
}

func newWalker(file string, body []byte) *walker {
	return &walker{file: file, lines: bytes.Count(body, []byte("\n")) + 1, budget: nodeBudget(len(body)), active: map[*yaml.Node]bool{}, nodes: map[string]*yaml.Node{}, entries: map[*yaml.Node][]pair{}}
}

// errAt returns an *Error located at n. yaml.v3 places the empty value
// of a document that ends early on the line after the last; such a
// position is moved back into the input.
func (w *walker) errAt(n *yaml.Node, path string, err error) *Error {
	line, col := n.Line, n.Column
	if line > w.lines {
		line, col = w.lines, 0
	}
	return &Error{File: w.file, Line: max(line, 1), Column: col, Path: path, Err: err}
}

// enter follows an alias, charges the node budget and marks a mapping or
// list as being walked. A nil error must be paired with leave(returned).
func (w *walker) enter(n *yaml.Node, path string) (*yaml.Node, error) {
	if err := w.charge(1, n, path); err != nil {
		return nil, err
	}
	alias := n
	if n.Kind == yaml.AliasNode {
		n = n.Alias
		if n == nil {
			return nil, w.errAt(alias, path, errf(ErrSyntax, "alias *%s refers to nothing", alias.Value))
		}
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if w.active[n] {
			return nil, w.errAt(alias, path, errf(ErrSyntax, "alias *%s contains itself", alias.Value))
		}
		w.active[n] = true
	}
	return n, nil
}

// charge counts nodes against the budget; at (an alias or a merge key)
// locates the error once the budget is spent.
func (w *walker) charge(nodes int, at *yaml.Node, path string) error {
	w.visited += nodes
	if w.visited > w.budget {
		return w.errAt(at, path, errf(ErrTooLarge, "(more than %d nodes once aliases and merges (<<) are expanded)", w.budget))
	}
	return nil
}

// mergeCost is what a merge of entries pairs costs: a key and a value node
// each. It is charged before they are copied, so a merge that would copy
// more than the budget is refused after work bounded by the budget.
func mergeCost(entries int) int { return 2 * entries }

// leave undoes enter's mark.
func (w *walker) leave(n *yaml.Node) { delete(w.active, n) }

// pair is one key and its value in a mapping.
type pair struct{ key, value *yaml.Node }

// pairs lists the entries of the mapping m (already entered), refusing
// duplicate keys and non-scalar keys, and expanding merge keys (`<<:
// *base`): keys written in m win over merged ones, and an earlier merge
// source wins over a later one. Every entry a merge copies is charged to
// the node budget. The result is kept for the walk and must not be
// modified: an error ends the walk, so only successes are kept, and a
// mapping that merges itself fails on its first expansion.
func (w *walker) pairs(m *yaml.Node, path string) ([]pair, error) {
	if out, ok := w.entries[m]; ok {
		return out, nil
	}
	out := make([]pair, 0, len(m.Content)/2)
	seen := make(map[string]*yaml.Node, len(m.Content)/2)
	var merges []pair // merge key (<<) and its source
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, w.errAt(k, path, errf(ErrType, "of mapping key: want a name, got %s", describe(k)))
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, pair{k, v})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			return nil, w.errAt(k, join(path, k.Value),
				errf(ErrDuplicateKey, "%q (first at line %d)", k.Value, first.Line))
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, mk := range merges {
		merged, err := w.mergeSource(mk.value, path)
		if err != nil {
			return nil, err
		}
		if err := w.charge(mergeCost(len(merged)), mk.key, path); err != nil {
			return nil, err
		}
		for _, p := range merged {
			if _, ok := seen[p.key.Value]; !ok {
				seen[p.key.Value] = p.key
				out = append(out, p)
			}
		}
	}
	w.entries[m] = out
	return out, nil
}

// mergeSource returns the entries a merge key's value brings: a mapping,
// or a list of mappings where the earlier ones win. Each item is charged
// as written, whether or not an earlier one brought its keys already: a
// source listed again adds nothing, so its copy is skipped, but the budget
// does not depend on that.
func (w *walker) mergeSource(src *yaml.Node, path string) ([]pair, error) {
	n, err := w.enter(src, path)
	if err != nil {
		return nil, err
	}
	defer w.leave(n)
	switch n.Kind {
	case yaml.MappingNode:
		return w.pairs(n, path)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		done := map[*yaml.Node]bool{}
		for _, item := range n.Content {
			sub, err := w.mergeSource(item, path)
			if err != nil {
				return nil, err
			}
			if err := w.charge(mergeCost(len(sub)), item, path); err != nil {
				return nil, err
			}
			src := resolve(item)
			if done[src] {
				continue
			}
			done[src] = true
			for _, p := range sub {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out, nil
	}
	return nil, w.errAt(n, path, errf(ErrType, "of merge (<<): want a mapping or a list of mappings, got %s", describe(n)))
}

// resolve returns the node an alias refers to, or n itself.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// describe names a node's type and value for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 60 {
			v = v[:57] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", v)
		case "!!int", "!!float":
			return "the number " + v
		case "!!bool":
			return "the boolean " + v
		case "!!null":
			return "no value"
		default:
			return fmt.Sprintf("%q tagged %s", v, n.ShortTag())
		}
	}
	return "nothing"
}

// isNull reports whether n is an empty value (`key:`, `~`, `null`).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
