package mesoslocal_test

import (
	"os"
	"path/filepath"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
)

func growOp(vol, addition mesos.Resource) mesos.Offer_Operation {
	return mesos.Offer_Operation{Type: mesos.Offer_Operation_GROW_VOLUME,
		GrowVolume: &mesos.Offer_Operation_GrowVolume{Volume: vol, Addition: addition}}
}

func shrinkOp(vol mesos.Resource, sub float64) mesos.Offer_Operation {
	return mesos.Offer_Operation{Type: mesos.Offer_Operation_SHRINK_VOLUME,
		ShrinkVolume: &mesos.Offer_Operation_ShrinkVolume{Volume: vol, Subtract: mesos.Value_Scalar{Value: sub}}}
}

// sized is volume vol1 of size mb.
func sized(mb float64) mesos.Resource {
	v := volume()[0]
	v.Scalar = &mesos.Value_Scalar{Value: mb}
	return v
}

func reservedDisk(mb float64) mesos.Resource {
	return mesos.Resources{resources.NewDisk(mb).Resource}.PushReservation(reservation())[0]
}

// TestGrowAndShrinkVolume: GROW_VOLUME adds reserved disk to a volume and
// SHRINK_VOLUME gives some back as reserved disk, the volume's data
// staying; invalid ones are dropped and change nothing.
func TestGrowAndShrinkVolume(t *testing.T) {
	m, url := startMaster(t, 1)
	s := startScheduler(t, url, codecs.MediaTypeProtobuf, 0)
	agent := m.AgentIDs()[0]
	s.OfferFrom(agent, func(mesos.Offer) bool { return true })
	s.Call(calls.Accept(calls.OfferOperations{
		calls.OpReserve(unreservedDisk()...), calls.OpCreate(volume()...),
	}.WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
	st := m.State().Agents[0]
	if len(st.Volumes) != 1 || st.Volumes[0].DiskMB != 100 {
		t.Fatalf("volume: %+v", st.Volumes)
	}
	data := filepath.Join(st.Volumes[0].Path, "key")
	if err := os.WriteFile(data, []byte("value"), 0o644); err != nil {
		t.Fatal(err)
	}
	accept := func(ops ...mesos.Offer_Operation) mesoslocal.AgentState {
		t.Helper()
		s.OfferFrom(agent, func(mesos.Offer) bool { return true })
		s.Call(calls.Accept(calls.OfferOperations(ops).WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
		return m.State().Agents[0] // ACCEPT is applied before its answer
	}
	size := func(st mesoslocal.AgentState) float64 {
		if len(st.Volumes) != 1 {
			t.Fatalf("volumes: %+v", st.Volumes)
		}
		return st.Volumes[0].DiskMB
	}
	reservedMB := func(st mesoslocal.AgentState) float64 { v, _ := st.Reservations["riak"]["disk"].(float64); return v }

	st = accept(calls.OpReserve(reservedDisk(50)), growOp(sized(100), reservedDisk(50)))
	if size(st) != 150 || reservedMB(st) != 150 {
		t.Fatalf("after grow: volume %v MB, reserved %v MB", size(st), reservedMB(st))
	}
	st = accept(shrinkOp(sized(150), 100))
	if size(st) != 50 || reservedMB(st) != 150 {
		t.Fatalf("after shrink: volume %v MB, reserved %v MB (the 100 MB stay reserved)", size(st), reservedMB(st))
	}
	st = accept(calls.OpUnreserve(reservedDisk(100)))
	if size(st) != 50 || reservedMB(st) != 50 {
		t.Fatalf("after unreserve: volume %v MB, reserved %v MB", size(st), reservedMB(st))
	}
	if b, err := os.ReadFile(data); err != nil || string(b) != "value" {
		t.Fatalf("volume data after resizing: %q, %v", b, err)
	}

	other := sized(50)
	other.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "nope"}, Volume: other.Disk.Volume}
	otherRole := mesos.Resources{resources.NewDisk(10).Resource}.PushReservation(mesos.Resource_ReservationInfo{
		Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto("web")})[0]
	zero := reservedDisk(10)
	zero.Scalar = &mesos.Value_Scalar{}
	for name, op := range map[string]mesos.Offer_Operation{
		"unknown volume":         growOp(other, reservedDisk(10)),
		"wrong size":             growOp(sized(70), reservedDisk(10)),
		"not a volume":           growOp(reservedDisk(50), reservedDisk(10)),
		"unreserved addition":    growOp(sized(50), resources.NewDisk(10).Resource),
		"addition of other role": growOp(sized(50), otherRole),
		"addition not offered":   growOp(sized(50), reservedDisk(10)),
		"addition is a volume":   growOp(sized(50), sized(50)),
		"zero addition":          growOp(sized(50), zero),
		"missing grow_volume":    {Type: mesos.Offer_Operation_GROW_VOLUME},
		"shrink to nothing":      shrinkOp(sized(50), 50),
		"shrink negative":        shrinkOp(sized(50), -1),
		"shrink unknown":         shrinkOp(other, 10),
		"missing shrink_volume":  {Type: mesos.Offer_Operation_SHRINK_VOLUME},
	} {
		st = accept(op)
		if size(st) != 50 || reservedMB(st) != 50 {
			t.Errorf("%s: applied: volume %v MB, reserved %v MB", name, size(st), reservedMB(st))
		}
	}
	if b, err := os.ReadFile(data); err != nil || string(b) != "value" {
		t.Fatalf("volume data at the end: %q, %v", b, err)
	}
}
