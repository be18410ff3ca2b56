package domain

// MaxIDLen is the longest identifier accepted.
const MaxIDLen = 128

// ValidID reports whether s is 1–128 characters of A-Z a-z 0-9 _ - (ids become NATS subject tokens).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
