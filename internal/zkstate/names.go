package zkstate

import "fmt"

// MaxNameLen is the longest name ValidateName accepts (an Erlang node name,
// alive@host, is at most 255 bytes).
const MaxNameLen = 255

// ValidateName checks that name can be used as one znode path component:
// 1..MaxNameLen bytes of ASCII letters, digits and "._@-", starting with a
// letter, digit or "_" (so never "." or ".."). Framework, cluster, node and
// Erlang node names all follow this rule.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes long (max %d)", ErrInvalidName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case (c == '.' || c == '-' || c == '@') && i > 0:
		default:
			return fmt.Errorf("%w: %q: character %q at %d not allowed (use letters, digits, \"._@-\", not first \".-@\")",
				ErrInvalidName, name, c, i)
		}
	}
	return nil
}

func validateNames(names ...string) error {
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			return err
		}
	}
	return nil
}
