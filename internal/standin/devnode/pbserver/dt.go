package pbserver

import (
	"errors"
	"fmt"
	"time"

	rpbDT "github.com/basho/riak-go-client/rpb/riak_dt"
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rmf-go/rmf/internal/standin/devnode/crdt"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// Riak data types over PB (riak_kv_pb_crdt): DtFetchReq/DtUpdateReq.
// riak-go-client v1.7.0's riak_dt messages predate HLLs and GSets; their
// fields (riak_pb's DtOp.hll_op = 4, gset_op = 5, DtValue.hll_value = 4,
// gset_value = 5, DtUpdateResp.hll_value = 6, gset_value = 7, and the
// DataType values HLL = 4, GSET = 5) are read and written as raw protobuf.

// Field numbers of riak_pb's riak_dt.proto that the client's copy lacks.
const (
	dtOpHLL, dtOpGSet                                  = 4, 5
	dtValueHLL, dtValueGSet                            = 4, 5
	dtUpdateRespHLL, dtUpdateRespGSet                  = 6, 7
	dtTypeHLL, dtTypeGSet                              = 4, 5
	addOpAdds                         protowire.Number = 1
)

func (c *conn) dtKind(typ, bucket []byte) (crdt.Kind, bool) {
	if string(typ) == kv.DefaultType {
		// Riak maps these to its legacy 1.4 counters, which the devnode lacks.
		c.fail("legacy counters (data types in the default bucket type) are " + notSupported)
		return "", false
	}
	k, err := crdt.BucketKind(c.ctx, c.svc, string(typ), string(bucket))
	if err != nil {
		c.failDT(err)
		return "", false
	}
	return k, true
}

func (c *conn) failDT(err error) {
	var be *crdt.BucketError
	var pe *crdt.PreconditionError
	var oe *crdt.OpKindError
	switch {
	case errors.As(err, &be), errors.As(err, &pe), errors.As(err, &oe):
		c.fail(err.Error())
	case errors.Is(err, crdt.ErrCorrupt):
		c.fail("invalid context or stored data type: " + err.Error())
	default:
		c.failErr(err)
	}
}

func dtQuorum(r, pr *uint32, nfok, bq *bool, timeout, nval *uint32, sloppy *bool) service.Quorum {
	q := service.Quorum{NotFoundOK: nfok, BasicQuorum: bq, SloppyQuorum: sloppy}
	if r != nil {
		q.R = kv.Quorum(*r)
	}
	if pr != nil {
		q.PR = kv.Quorum(*pr)
	}
	if timeout != nil {
		q.Timeout = time.Duration(*timeout) * time.Millisecond
	}
	if nval != nil {
		q.NVal = *nval
	}
	return q
}

func (c *conn) dtFetch(body []byte) {
	m := &rpbDT.DtFetchReq{}
	if !c.unmarshal(protocol.CodeDtFetchReq, body, m) {
		return
	}
	if len(m.Bucket) == 0 || len(m.Key) == 0 || len(m.Type) == 0 {
		c.fail("invalid DtFetchReq: bucket, key and type are required")
		return
	}
	kind, ok := c.dtKind(m.Type, m.Bucket)
	if !ok {
		return
	}
	r, err := crdt.Fetch(c.ctx, c.svc, kind, string(m.Type), string(m.Bucket), string(m.Key),
		dtQuorum(m.R, m.Pr, m.NotfoundOk, m.BasicQuorum, m.Timeout, m.NVal, m.SloppyQuorum))
	if err != nil {
		c.failDT(err)
		return
	}
	resp := &rpbDT.DtFetchResp{}
	var extra []byte
	switch kind {
	case crdt.KindCounter:
		resp.Type = rpbDT.DtFetchResp_COUNTER.Enum()
	case crdt.KindSet:
		resp.Type = rpbDT.DtFetchResp_SET.Enum()
	case crdt.KindMap:
		resp.Type = rpbDT.DtFetchResp_MAP.Enum()
	case crdt.KindHLL:
		resp.Type = rpbDT.DtFetchResp_DataType(dtTypeHLL).Enum()
	case crdt.KindGSet:
		resp.Type = rpbDT.DtFetchResp_DataType(dtTypeGSet).Enum()
	}
	if r.Found {
		// riak_pb_dt_codec: a value only when found; the context when
		// asked (include_context defaults to true) and the type has one.
		resp.Value = &rpbDT.DtValue{}
		switch kind {
		case crdt.KindCounter:
			v := r.Value.Counter.Value()
			resp.Value.CounterValue = &v
		case crdt.KindSet:
			resp.Value.SetValue = r.Value.Set.Value()
		case crdt.KindMap:
			resp.Value.MapValue = mapEntries(r.Value.Map)
		case crdt.KindHLL:
			extra = protowire.AppendTag(extra, dtValueHLL, protowire.VarintType)
			extra = protowire.AppendVarint(extra, r.Value.HLL.Value())
		case crdt.KindGSet:
			for _, e := range r.Value.GSet.Value() {
				extra = protowire.AppendTag(extra, dtValueGSet, protowire.BytesType)
				extra = protowire.AppendBytes(extra, e)
			}
		}
		if m.IncludeContext == nil || *m.IncludeContext {
			if ctx := r.Value.Context(); ctx != nil {
				resp.Context = crdt.EncodeContext(ctx)
			}
		}
	}
	if len(extra) > 0 {
		resp.Value.XXX_unrecognized = extra
	}
	c.reply(protocol.CodeDtFetchResp, resp)
}

func (c *conn) reply(code protocol.Code, m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil {
		c.fail(err.Error())
		return
	}
	c.out = protocol.AppendFrame(c.out, code, b)
}

func (c *conn) dtUpdate(body []byte) {
	m := &rpbDT.DtUpdateReq{}
	if !c.unmarshal(protocol.CodeDtUpdateReq, body, m) {
		return
	}
	if len(m.Bucket) == 0 || len(m.Type) == 0 || m.Op == nil {
		c.fail("invalid DtUpdateReq: bucket, type and op are required")
		return
	}
	if m.Key != nil && len(m.Key) == 0 {
		c.fail("invalid DtUpdateReq: key must not be empty")
		return
	}
	kind, ok := c.dtKind(m.Type, m.Bucket)
	if !ok {
		return
	}
	op, err := opFromRpb(m.Op)
	if err != nil {
		c.fail(err.Error())
		return
	}
	q := service.Quorum{SloppyQuorum: m.SloppyQuorum}
	if m.W != nil {
		q.W = kv.Quorum(*m.W)
	}
	if m.Dw != nil {
		q.DW = kv.Quorum(*m.Dw)
	}
	if m.Pw != nil {
		q.PW = kv.Quorum(*m.Pw)
	}
	if m.Timeout != nil {
		q.Timeout = time.Duration(*m.Timeout) * time.Millisecond
	}
	if m.NVal != nil {
		q.NVal = *m.NVal
	}
	res, err := crdt.Apply(c.ctx, c.svc, kind, crdt.Update{
		Type: string(m.Type), Bucket: string(m.Bucket), Key: string(m.Key),
		Op: op, Context: m.Context, Quorum: q,
	})
	if err != nil {
		c.failDT(err)
		return
	}
	resp := &rpbDT.DtUpdateResp{}
	if m.Key == nil {
		resp.Key = []byte(res.Key) // only a generated key, as Riak
	}
	if m.ReturnBody != nil && *m.ReturnBody {
		var extra []byte
		v := res.Value
		switch kind {
		case crdt.KindCounter:
			n := v.Counter.Value()
			resp.CounterValue = &n
		case crdt.KindSet:
			resp.SetValue = v.Set.Value()
		case crdt.KindMap:
			resp.MapValue = mapEntries(v.Map)
		case crdt.KindHLL:
			extra = protowire.AppendTag(extra, dtUpdateRespHLL, protowire.VarintType)
			extra = protowire.AppendVarint(extra, v.HLL.Value())
		case crdt.KindGSet:
			for _, e := range v.GSet.Value() {
				extra = protowire.AppendTag(extra, dtUpdateRespGSet, protowire.BytesType)
				extra = protowire.AppendBytes(extra, e)
			}
		}
		if m.IncludeContext == nil || *m.IncludeContext {
			if ctx := v.Context(); ctx != nil {
				resp.Context = crdt.EncodeContext(ctx)
			}
		}
		if len(extra) > 0 {
			resp.XXX_unrecognized = extra
		}
	}
	c.reply(protocol.CodeDtUpdateResp, resp)
}

var fieldKinds = map[rpbDT.MapField_MapFieldType]crdt.FieldKind{
	rpbDT.MapField_COUNTER: crdt.FieldCounter, rpbDT.MapField_SET: crdt.FieldSet,
	rpbDT.MapField_REGISTER: crdt.FieldRegister, rpbDT.MapField_FLAG: crdt.FieldFlag,
	rpbDT.MapField_MAP: crdt.FieldMap,
}

var fieldTypes = map[crdt.FieldKind]rpbDT.MapField_MapFieldType{
	crdt.FieldCounter: rpbDT.MapField_COUNTER, crdt.FieldSet: rpbDT.MapField_SET,
	crdt.FieldRegister: rpbDT.MapField_REGISTER, crdt.FieldFlag: rpbDT.MapField_FLAG,
	crdt.FieldMap: rpbDT.MapField_MAP,
}

func mapEntries(m *crdt.Map) []*rpbDT.MapEntry {
	var out []*rpbDT.MapEntry
	for _, k := range m.Keys() {
		f := m.Value(k)
		e := &rpbDT.MapEntry{Field: &rpbDT.MapField{Name: []byte(k.Name), Type: fieldTypes[k.Kind].Enum()}}
		switch k.Kind {
		case crdt.FieldCounter:
			v := f.Counter.Value()
			e.CounterValue = &v
		case crdt.FieldSet:
			e.SetValue = f.Set.Value()
		case crdt.FieldRegister:
			e.RegisterValue = append([]byte{}, f.Register.Value...)
		case crdt.FieldFlag:
			v := f.Flag.Value()
			e.FlagValue = &v
		case crdt.FieldMap:
			e.MapValue = mapEntries(f.Map)
		}
		out = append(out, e)
	}
	return out
}

// opFromRpb converts a DtOp: exactly one operation.
func opFromRpb(o *rpbDT.DtOp) (crdt.Op, error) {
	var op crdt.Op
	n := 0
	if o.CounterOp != nil {
		op.Counter = &crdt.CounterOp{Inc: o.CounterOp.GetIncrement()}
		if o.CounterOp.Increment == nil {
			op.Counter.Inc = 1 // riak_pb_dt_codec: increment by 1
		}
		n++
	}
	if o.SetOp != nil {
		op.Set = &crdt.SetOp{Adds: o.SetOp.Adds, Removes: o.SetOp.Removes}
		n++
	}
	if o.MapOp != nil {
		mo, err := mapOpFromRpb(o.MapOp, 0)
		if err != nil {
			return op, err
		}
		op.Map = mo
		n++
	}
	hll, gset, err := addOpsFromUnknown(o.XXX_unrecognized)
	if err != nil {
		return op, err
	}
	if hll != nil {
		op.HLL = hll
		n++
	}
	if gset != nil {
		op.GSet = gset
		n++
	}
	if n != 1 {
		return op, fmt.Errorf("invalid DtUpdateReq: op must hold exactly one operation, has %d", n)
	}
	return op, nil
}

// addOpsFromUnknown reads DtOp's hll_op and gset_op (each {repeated bytes adds = 1}).
func addOpsFromUnknown(b []byte) (hll, gset *crdt.AddOp, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, errors.New("invalid DtUpdateReq: bad op field")
		}
		b = b[n:]
		if (num == dtOpHLL || num == dtOpGSet) && typ == protowire.BytesType {
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, errors.New("invalid DtUpdateReq: bad op field")
			}
			b = b[n:]
			op := &crdt.AddOp{}
			for len(msg) > 0 {
				fnum, ftyp, k := protowire.ConsumeTag(msg)
				if k < 0 {
					return nil, nil, errors.New("invalid DtUpdateReq: bad add op")
				}
				msg = msg[k:]
				if fnum == addOpAdds && ftyp == protowire.BytesType {
					v, k := protowire.ConsumeBytes(msg)
					if k < 0 {
						return nil, nil, errors.New("invalid DtUpdateReq: bad add op")
					}
					op.Adds = append(op.Adds, append([]byte(nil), v...))
					msg = msg[k:]
					continue
				}
				k = protowire.ConsumeFieldValue(fnum, ftyp, msg)
				if k < 0 {
					return nil, nil, errors.New("invalid DtUpdateReq: bad add op")
				}
				msg = msg[k:]
			}
			if num == dtOpHLL {
				hll = op
			} else {
				gset = op
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, nil, errors.New("invalid DtUpdateReq: bad op field")
		}
		b = b[n:]
	}
	return hll, gset, nil
}

const maxMapDepth = 32

func mapOpFromRpb(o *rpbDT.MapOp, depth int) (*crdt.MapOp, error) {
	if depth > maxMapDepth {
		return nil, fmt.Errorf("invalid DtUpdateReq: maps nested deeper than %d", maxMapDepth)
	}
	out := &crdt.MapOp{}
	field := func(f *rpbDT.MapField) (crdt.FieldKey, error) {
		k, ok := fieldKinds[f.GetType()]
		if f == nil || !ok {
			return crdt.FieldKey{}, errors.New("invalid DtUpdateReq: map field type")
		}
		return crdt.FieldKey{Name: string(f.Name), Kind: k}, nil
	}
	for _, r := range o.Removes {
		k, err := field(r)
		if err != nil {
			return nil, err
		}
		out.Removes = append(out.Removes, k)
	}
	for _, u := range o.Updates {
		k, err := field(u.Field)
		if err != nil {
			return nil, err
		}
		mu := crdt.MapUpdate{Field: k}
		bad := func() error {
			return fmt.Errorf("invalid DtUpdateReq: map field %s_%s needs a %s operation", k.Name, k.Kind, k.Kind)
		}
		switch k.Kind {
		case crdt.FieldCounter:
			if u.CounterOp == nil {
				return nil, bad()
			}
			inc := int64(1)
			if u.CounterOp.Increment != nil {
				inc = *u.CounterOp.Increment
			}
			mu.Counter = &crdt.CounterOp{Inc: inc}
		case crdt.FieldSet:
			if u.SetOp == nil {
				return nil, bad()
			}
			mu.Set = &crdt.SetOp{Adds: u.SetOp.Adds, Removes: u.SetOp.Removes}
		case crdt.FieldRegister:
			if u.RegisterOp == nil {
				return nil, bad()
			}
			mu.Register = &crdt.RegisterOp{Value: u.RegisterOp}
		case crdt.FieldFlag:
			if u.FlagOp == nil {
				return nil, bad()
			}
			mu.Flag = &crdt.FlagOp{Enable: *u.FlagOp == rpbDT.MapUpdate_ENABLE}
		case crdt.FieldMap:
			if u.MapOp == nil {
				return nil, bad()
			}
			sub, err := mapOpFromRpb(u.MapOp, depth+1)
			if err != nil {
				return nil, err
			}
			mu.Map = sub
		}
		out.Updates = append(out.Updates, mu)
	}
	return out, nil
}
