package protocol

import "google.golang.org/protobuf/encoding/protowire"

// Riak executes a bucket-type property change on its claimant node and
// spreads it by gossip, so the node that acknowledged an
// RpbSetBucketTypeReq may still answer RpbGetBucketTypeReq with the old
// properties for some milliseconds (seen on Riak KV 3.2.3: a client of a
// node other than the claimant reads back the old n_val 5 times in 6). A
// proxy that wants its client to read its own change asks the node until
// it has it; these functions decode and build what it needs.

// PropsWant is the part of a bucket-type change a proxy can check: the
// type, and the varint fields of its RpbBucketProps (n_val, allow_mult,
// the quorums, ...) by field number. Bytes and message fields (backend,
// hooks, chash_keyfun) are not compared.
type PropsWant struct {
	Type   []byte
	Fields map[protowire.Number]uint64
}

// SetBucketTypeWant decodes an RpbSetBucketTypeReq body (type = 1, props
// = 2) into what a later RpbGetBucketTypeReq must show. ErrMalformed when
// it does not parse; Fields is empty when it sets no varint field.
func SetBucketTypeWant(body []byte) (PropsWant, error) {
	var w PropsWant
	var props []byte
	err := eachField(body, func(num protowire.Number, typ protowire.Type, v []byte) {
		switch {
		case num == 1 && typ == protowire.BytesType:
			w.Type = v
		case num == 2 && typ == protowire.BytesType:
			props = v
		}
	})
	if err != nil {
		return PropsWant{}, err
	}
	if w.Fields, err = varintFields(props); err != nil {
		return PropsWant{}, err
	}
	return w, nil
}

// varintFields returns the varint fields of a message, the last
// occurrence of each winning, as in a full decode.
func varintFields(msg []byte) (map[protowire.Number]uint64, error) {
	out := map[protowire.Number]uint64{}
	err := eachField(msg, func(num protowire.Number, typ protowire.Type, v []byte) {
		if typ == protowire.VarintType {
			x, _ := protowire.ConsumeVarint(v)
			out[num] = x
		}
	})
	return out, err
}

// AppendGetBucketTypeReq appends an RpbGetBucketTypeReq frame for typ.
func AppendGetBucketTypeReq(dst, typ []byte) []byte {
	body := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), typ)
	return AppendFrame(dst, CodeGetBucketTypeReq, body)
}

// GetBucketRespHas reports whether an RpbGetBucketResp body (props = 1)
// shows every field of want with its value. ErrMalformed when it does not
// parse.
func GetBucketRespHas(body []byte, want PropsWant) (bool, error) {
	var props []byte
	if err := eachField(body, func(num protowire.Number, typ protowire.Type, v []byte) {
		if num == 1 && typ == protowire.BytesType {
			props = v
		}
	}); err != nil {
		return false, err
	}
	got, err := varintFields(props)
	if err != nil {
		return false, err
	}
	for num, v := range want.Fields {
		if g, ok := got[num]; !ok || g != v {
			return false, nil
		}
	}
	return true, nil
}
