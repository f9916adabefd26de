package pushproto

import "testing"

func TestResult(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{Result([]map[string]any(nil), nil), `{"result":{"status":true,"value":[]}}`},
		{Result([]map[string]any{}, nil), `{"result":{"status":true,"value":[]}}`},
		{Result([]map[string]any{{"nonce": "N"}}, nil), `{"result":{"status":true,"value":[{"nonce":"N"}]}}`},
		{Result(true, map[string]any{"public_key": "AB\nCD"}), `{"result":{"status":true,"value":true},"detail":{"public_key":"AB\nCD"}}`},
		{Result(false, nil), `{"result":{"status":true,"value":false}}`},
		{ErrorResult(400, "Could not verify signature!"), `{"result":{"status":false,"error":{"code":400,"message":"Could not verify signature!"}}}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
	}
}
