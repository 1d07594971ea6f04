// Package main is Tulou's bridge to Lattigo v6 (github.com/tuneinsight/lattigo), built as a C
// shared library (go build -buildmode=c-shared) and called from Python through ctypes
// (crypto/he/_bridge.py).
//
// The bridge is stateless: every call names a parameter preset and passes every object it
// needs as serialised bytes (Lattigo's own MarshalBinary formats), so no handle, key or
// ciphertext outlives a call on the Go side. One entry point, tl_call(op, in) -> out, with a
// simple framing: u32 count, then per blob u64 length + bytes (little-endian). On error the
// return value is non-zero and the output holds the message (no secret ever appears in one).
//
// Protocols are Lattigo's multiparty package: the collective public key (CKG), the two-round
// relinearisation key (RKG), Galois keys (GKG), t-out-of-N Shamir sharing of the secret
// (Thresholdizer/Combiner, Mouchet-Bertrand-Hubaux 2022, eprint 2022/780) and the collective
// key switch to the zero key with noise flooding (threshold decryption).
package main

/*
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// floodSigma is the standard deviation of the smudging noise each party adds to its
// decryption share (2^30, the value of Lattigo's examples; statistical hiding of the
// ciphertext noise, see docs/he.md).
const floodSigma = float64(1 << 30)

type scheme struct {
	name   string
	bgv    *bgv.Parameters
	ckks   *ckks.Parameters
	rlwe   rlwe.Parameters
	galEls []uint64
}

var presets = map[string]func() (*scheme, error){
	"bgv-n14": func() (*scheme, error) {
		p, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{
			LogN:             14,
			LogQ:             []int{60, 55, 55, 55},
			LogP:             []int{61, 61},
			PlaintextModulus: 0x100000020001, // prime, = 1 mod 2^15, 44 bits
		})
		if err != nil {
			return nil, err
		}
		els := append(p.GaloisElementsForInnerSum(1, p.N()>>1), p.GaloisElementForRowRotation())
		return &scheme{name: "bgv-n14", bgv: &p, rlwe: *p.GetRLWEParameters(), galEls: dedupe(els)}, nil
	},
	"ckks-n14": func() (*scheme, error) {
		p, err := ckks.NewParametersFromLiteral(ckks.ParametersLiteral{
			LogN:            14,
			LogQ:            []int{60, 45, 45, 45},
			LogP:            []int{61, 61},
			LogDefaultScale: 45,
		})
		if err != nil {
			return nil, err
		}
		els := p.GaloisElementsForInnerSum(1, p.MaxSlots())
		return &scheme{name: "ckks-n14", ckks: &p, rlwe: *p.GetRLWEParameters(), galEls: dedupe(els)}, nil
	},
	// A smaller set for tests (N = 2^13: logQP 218 <= 218 for 128 bits; 17-bit plaintexts).
	"bgv-n13": func() (*scheme, error) {
		p, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{
			LogN:             13,
			LogQ:             []int{59, 50, 50},
			LogP:             []int{58},
			PlaintextModulus: 0x10001,
		})
		if err != nil {
			return nil, err
		}
		els := append(p.GaloisElementsForInnerSum(1, p.N()>>1), p.GaloisElementForRowRotation())
		return &scheme{name: "bgv-n13", bgv: &p, rlwe: *p.GetRLWEParameters(), galEls: dedupe(els)}, nil
	},
}

func dedupe(els []uint64) []uint64 {
	seen := map[uint64]bool{}
	out := []uint64{}
	for _, e := range els {
		if e != 1 && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func (s *scheme) slots() int {
	if s.bgv != nil {
		return s.bgv.MaxSlots()
	}
	return s.ckks.MaxSlots()
}

// ---- framing ----

func unframe(data []byte) ([][]byte, error) {
	if len(data) < 4 {
		return nil, errors.New("truncated frame")
	}
	n := int(binary.LittleEndian.Uint32(data))
	pos := 4
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		if len(data)-pos < 8 {
			return nil, errors.New("truncated frame")
		}
		size := binary.LittleEndian.Uint64(data[pos:])
		pos += 8
		if size > uint64(len(data)-pos) {
			return nil, errors.New("truncated frame")
		}
		out = append(out, data[pos:pos+int(size)])
		pos += int(size)
	}
	if pos != len(data) {
		return nil, errors.New("trailing bytes after frame")
	}
	return out, nil
}

func frame(blobs [][]byte) []byte {
	var buf bytes.Buffer
	var h [8]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(blobs)))
	buf.Write(h[:4])
	for _, b := range blobs {
		binary.LittleEndian.PutUint64(h[:], uint64(len(b)))
		buf.Write(h[:])
		buf.Write(b)
	}
	return buf.Bytes()
}

type marshaler interface{ MarshalBinary() ([]byte, error) }

func mustBytes(m marshaler) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func u64s(b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, errors.New("bad integer list")
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out, nil
}

func prng(seed []byte) sampling.PRNG {
	p, err := sampling.NewKeyedPRNG(seed)
	if err != nil {
		panic(err)
	}
	return p
}

// ---- objects with checks ----

func (s *scheme) secretKey(b []byte) (*rlwe.SecretKey, error) {
	sk := rlwe.NewSecretKey(s.rlwe)
	if err := sk.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("not a secret key share of %s", s.name)
	}
	if sk.Value.Q.N() != s.rlwe.N() || sk.LevelQ() != s.rlwe.MaxLevelQ() || sk.LevelP() != s.rlwe.MaxLevelP() {
		return nil, fmt.Errorf("secret key share is for other parameters than %s", s.name)
	}
	return sk, nil
}

func (s *scheme) ciphertext(b []byte) (*rlwe.Ciphertext, error) {
	ct := &rlwe.Ciphertext{}
	if err := ct.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("not a ciphertext")
	}
	if ct.Degree() != 1 || len(ct.Value) != 2 || ct.Value[0].N() != s.rlwe.N() || ct.Level() > s.rlwe.MaxLevel() || ct.MetaData == nil || !ct.IsNTT {
		return nil, fmt.Errorf("ciphertext does not have the parameters of %s", s.name)
	}
	for _, p := range ct.Value {
		if p.Level() != ct.Level() {
			return nil, fmt.Errorf("ciphertext does not have the parameters of %s", s.name)
		}
	}
	if s.bgv != nil && (ct.LogDimensions.Cols+ct.LogDimensions.Rows != s.bgv.LogMaxSlots() || ct.IsBatched != true) {
		return nil, fmt.Errorf("ciphertext is not a batched BGV ciphertext of %s", s.name)
	}
	if s.ckks != nil && ct.LogDimensions.Cols != s.ckks.LogMaxSlots() {
		return nil, fmt.Errorf("ciphertext is not a CKKS ciphertext of %s", s.name)
	}
	return ct, nil
}

func (s *scheme) evaluator(rlkBytes []byte, galBytes [][]byte) (rlwe.EvaluationKeySet, error) {
	var rlk *rlwe.RelinearizationKey
	if rlkBytes != nil {
		rlk = rlwe.NewRelinearizationKey(s.rlwe)
		if err := rlk.UnmarshalBinary(rlkBytes); err != nil {
			return nil, errors.New("not a relinearisation key")
		}
	}
	gks := make([]*rlwe.GaloisKey, 0, len(galBytes))
	for _, gb := range galBytes {
		gk := rlwe.NewGaloisKey(s.rlwe)
		if err := gk.UnmarshalBinary(gb); err != nil {
			return nil, errors.New("not a Galois key")
		}
		gks = append(gks, gk)
	}
	return rlwe.NewMemEvaluationKeySet(rlk, gks...), nil
}

// ---- operations ----

type op func(s *scheme, args [][]byte) ([][]byte, error)

func need(args [][]byte, n int) error {
	if len(args) < n {
		return fmt.Errorf("expected at least %d arguments", n)
	}
	return nil
}

var ops = map[string]op{
	"info": func(s *scheme, _ [][]byte) ([][]byte, error) {
		info := map[string]any{
			"preset": s.name, "log_n": s.rlwe.LogN(), "slots": s.slots(),
			"log_q": s.rlwe.LogQ(), "log_p": s.rlwe.LogP(), "log_qp": s.rlwe.LogQP(),
			"q": s.rlwe.Q(), "p": s.rlwe.P(), "max_level": s.rlwe.MaxLevel(),
			"sigma": s.rlwe.NoiseFreshSK(), "galois_elements": s.galEls, "flood_sigma": floodSigma,
			"xs": s.rlwe.Xs().(ring.Ternary).P,
		}
		if s.bgv != nil {
			info["scheme"] = "bgv"
			info["plaintext_modulus"] = s.bgv.PlaintextModulus()
		} else {
			info["scheme"] = "ckks"
			info["log_scale"] = s.ckks.LogDefaultScale()
		}
		b, err := json.Marshal(info)
		return [][]byte{b}, err
	},
	"sk_gen": func(s *scheme, _ [][]byte) ([][]byte, error) {
		return [][]byte{mustBytes(rlwe.NewKeyGenerator(s.rlwe).GenSecretKeyNew())}, nil
	},
	// ckg_share(seed, sk) -> share
	"ckg_share": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		sk, err := s.secretKey(a[1])
		if err != nil {
			return nil, err
		}
		ckg := multiparty.NewPublicKeyGenProtocol(s.rlwe)
		share := ckg.AllocateShare()
		ckg.GenShare(sk, ckg.SampleCRP(prng(a[0])), &share)
		return [][]byte{mustBytes(share)}, nil
	},
	// ckg_combine(seed, share...) -> public key
	"ckg_combine": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		ckg := multiparty.NewPublicKeyGenProtocol(s.rlwe)
		acc := ckg.AllocateShare()
		for i, b := range a[1:] {
			sh := ckg.AllocateShare()
			if err := sh.UnmarshalBinary(b); err != nil {
				return nil, fmt.Errorf("public-key share %d is malformed", i)
			}
			if i == 0 {
				acc = sh
			} else {
				ckg.AggregateShares(acc, sh, &acc)
			}
		}
		pk := rlwe.NewPublicKey(s.rlwe)
		ckg.GenPublicKey(acc, ckg.SampleCRP(prng(a[0])), pk)
		return [][]byte{mustBytes(pk)}, nil
	},
	// rkg_r1(seed, sk) -> ephemeral sk, round-one share
	"rkg_r1": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		sk, err := s.secretKey(a[1])
		if err != nil {
			return nil, err
		}
		rkg := multiparty.NewRelinearizationKeyGenProtocol(s.rlwe)
		eph, r1, _ := rkg.AllocateShare()
		rkg.GenShareRoundOne(sk, rkg.SampleCRP(prng(a[0])), eph, &r1)
		return [][]byte{mustBytes(eph), mustBytes(r1)}, nil
	},
	// rkg_agg(share...) -> aggregated share (round one or two)
	"rkg_agg": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 1); err != nil {
			return nil, err
		}
		rkg := multiparty.NewRelinearizationKeyGenProtocol(s.rlwe)
		_, acc, _ := rkg.AllocateShare()
		for i, b := range a {
			_, sh, _ := rkg.AllocateShare()
			if err := sh.UnmarshalBinary(b); err != nil {
				return nil, fmt.Errorf("relinearisation-key share %d is malformed", i)
			}
			if i == 0 {
				acc = sh
			} else {
				rkg.AggregateShares(acc, sh, &acc)
			}
		}
		return [][]byte{mustBytes(acc)}, nil
	},
	// rkg_r2(eph, sk, aggregated round one) -> round-two share
	"rkg_r2": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 3); err != nil {
			return nil, err
		}
		eph, err := s.secretKey(a[0])
		if err != nil {
			return nil, err
		}
		sk, err := s.secretKey(a[1])
		if err != nil {
			return nil, err
		}
		rkg := multiparty.NewRelinearizationKeyGenProtocol(s.rlwe)
		_, r1, r2 := rkg.AllocateShare()
		if err := r1.UnmarshalBinary(a[2]); err != nil {
			return nil, errors.New("round-one aggregate is malformed")
		}
		rkg.GenShareRoundTwo(eph, sk, r1, &r2)
		return [][]byte{mustBytes(r2)}, nil
	},
	// rkg_combine(aggregated round one, aggregated round two) -> relinearisation key
	"rkg_combine": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		rkg := multiparty.NewRelinearizationKeyGenProtocol(s.rlwe)
		_, r1, r2 := rkg.AllocateShare()
		if err := r1.UnmarshalBinary(a[0]); err != nil {
			return nil, errors.New("round-one aggregate is malformed")
		}
		if err := r2.UnmarshalBinary(a[1]); err != nil {
			return nil, errors.New("round-two aggregate is malformed")
		}
		rlk := rlwe.NewRelinearizationKey(s.rlwe)
		rkg.GenRelinearizationKey(r1, r2, rlk)
		return [][]byte{mustBytes(rlk)}, nil
	},
	// gkg_share(seed, sk) -> one share per Galois element of the preset
	"gkg_share": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		sk, err := s.secretKey(a[1])
		if err != nil {
			return nil, err
		}
		gkg := multiparty.NewGaloisKeyGenProtocol(s.rlwe)
		out := make([][]byte, 0, len(s.galEls))
		for _, g := range s.galEls {
			share := gkg.AllocateShare()
			if err := gkg.GenShare(sk, g, gkg.SampleCRP(prng(galSeed(a[0], g))), &share); err != nil {
				return nil, err
			}
			out = append(out, mustBytes(share))
		}
		return out, nil
	},
	// gkg_combine(seed, party0 frame, party1 frame, ...) -> Galois keys
	"gkg_combine": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		gkg := multiparty.NewGaloisKeyGenProtocol(s.rlwe)
		acc := make([]multiparty.GaloisKeyGenShare, len(s.galEls))
		for p, pf := range a[1:] {
			shares, err := unframe(pf)
			if err != nil || len(shares) != len(s.galEls) {
				return nil, fmt.Errorf("Galois-key shares of party %d are malformed", p)
			}
			for i, b := range shares {
				sh := gkg.AllocateShare()
				if err := sh.UnmarshalBinary(b); err != nil || sh.GaloisElement != s.galEls[i] {
					return nil, fmt.Errorf("Galois-key share %d of party %d is malformed", i, p)
				}
				if p == 0 {
					acc[i] = sh
				} else if err := gkg.AggregateShares(acc[i], sh, &acc[i]); err != nil {
					return nil, err
				}
			}
		}
		out := make([][]byte, 0, len(s.galEls))
		for i, g := range s.galEls {
			gk := rlwe.NewGaloisKey(s.rlwe)
			if err := gkg.GenGaloisKey(acc[i], gkg.SampleCRP(prng(galSeed(a[0], g))), gk); err != nil {
				return nil, err
			}
			out = append(out, mustBytes(gk))
		}
		return out, nil
	},
	// shamir_shares(sk, threshold u64, points u64...) -> one share per point
	"shamir_shares": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 3); err != nil {
			return nil, err
		}
		sk, err := s.secretKey(a[0])
		if err != nil {
			return nil, err
		}
		t, err := u64s(a[1])
		if err != nil || len(t) != 1 {
			return nil, errors.New("bad threshold")
		}
		points, err := u64s(a[2])
		if err != nil || len(points) < int(t[0]) || t[0] < 1 {
			return nil, errors.New("bad Shamir points")
		}
		thr := multiparty.NewThresholdizer(s.rlwe)
		poly, err := thr.GenShamirPolynomial(int(t[0]), sk)
		if err != nil {
			return nil, err
		}
		out := make([][]byte, 0, len(points))
		for _, pt := range points {
			share := thr.AllocateThresholdSecretShare()
			thr.GenShamirSecretShare(multiparty.ShamirPublicPoint(pt), poly, &share)
			out = append(out, mustBytes(share))
		}
		return out, nil
	},
	// shamir_agg(share...) -> the party's t-out-of-N share of the joint secret
	"shamir_agg": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 1); err != nil {
			return nil, err
		}
		thr := multiparty.NewThresholdizer(s.rlwe)
		acc := thr.AllocateThresholdSecretShare()
		for i, b := range a {
			sh := thr.AllocateThresholdSecretShare()
			if err := sh.UnmarshalBinary(b); err != nil || sh.Q.N() != s.rlwe.N() {
				return nil, fmt.Errorf("Shamir share %d is malformed", i)
			}
			if i == 0 {
				acc = sh
			} else if err := thr.AggregateShares(acc, sh, &acc); err != nil {
				return nil, err
			}
		}
		return [][]byte{mustBytes(acc)}, nil
	},
	// decrypt_share(tsk, threshold, own point, active points, ct...) -> one key-switch share per ct
	"decrypt_share": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 5); err != nil {
			return nil, err
		}
		thr := multiparty.NewThresholdizer(s.rlwe)
		tsk := thr.AllocateThresholdSecretShare()
		if err := tsk.UnmarshalBinary(a[0]); err != nil || tsk.Q.N() != s.rlwe.N() {
			return nil, errors.New("not a threshold key share of these parameters")
		}
		t, err1 := u64s(a[1])
		own, err2 := u64s(a[2])
		active, err3 := u64s(a[3])
		if err1 != nil || err2 != nil || err3 != nil || len(t) != 1 || len(own) != 1 {
			return nil, errors.New("bad decryption arguments")
		}
		if len(active) != int(t[0]) {
			return nil, fmt.Errorf("exactly %d active parties are needed, got %d", t[0], len(active))
		}
		points := make([]multiparty.ShamirPublicPoint, len(active))
		found := false
		for i, p := range active {
			points[i] = multiparty.ShamirPublicPoint(p)
			found = found || p == own[0]
		}
		if !found {
			return nil, errors.New("this party is not in the active set")
		}
		cmb := multiparty.NewCombiner(s.rlwe, multiparty.ShamirPublicPoint(own[0]), points, int(t[0]))
		sk := rlwe.NewSecretKey(s.rlwe)
		if err := cmb.GenAdditiveShare(points, multiparty.ShamirPublicPoint(own[0]), tsk, sk); err != nil {
			return nil, err
		}
		cks, err := multiparty.NewKeySwitchProtocol(s.rlwe, ring.DiscreteGaussian{Sigma: floodSigma, Bound: 6 * floodSigma})
		if err != nil {
			return nil, err
		}
		zero := rlwe.NewSecretKey(s.rlwe)
		out := make([][]byte, 0, len(a)-4)
		for _, cb := range a[4:] {
			ct, err := s.ciphertext(cb)
			if err != nil {
				return nil, err
			}
			share := cks.AllocateShare(ct.Level())
			cks.GenShare(sk, zero, ct, &share)
			out = append(out, mustBytes(share))
		}
		return out, nil
	},
	// decrypt_combine(ct, share...) -> the decoded slots (int64 or float64, little-endian)
	"decrypt_combine": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		ct, err := s.ciphertext(a[0])
		if err != nil {
			return nil, err
		}
		cks, err := multiparty.NewKeySwitchProtocol(s.rlwe, ring.DiscreteGaussian{Sigma: floodSigma, Bound: 6 * floodSigma})
		if err != nil {
			return nil, err
		}
		acc := cks.AllocateShare(ct.Level())
		for i, b := range a[1:] {
			sh := cks.AllocateShare(ct.Level())
			if err := sh.UnmarshalBinary(b); err != nil || sh.Level() != ct.Level() || sh.Value.N() != s.rlwe.N() {
				return nil, fmt.Errorf("decryption share %d is malformed or for another ciphertext", i)
			}
			if i == 0 {
				acc = sh
			} else if err := cks.AggregateShares(acc, sh, &acc); err != nil {
				return nil, err
			}
		}
		out := ct.CopyNew()
		cks.KeySwitch(ct, acc, out)
		zero := rlwe.NewSecretKey(s.rlwe)
		pt := rlwe.NewDecryptor(s.rlwe, zero).DecryptNew(out)
		return s.decode(pt)
	},
	// encrypt(pk, values) -> ciphertexts (values packed slot by slot, zero-padded)
	"encrypt": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		pk := rlwe.NewPublicKey(s.rlwe)
		if err := pk.UnmarshalBinary(a[0]); err != nil || pk.Value[0].Q.N() != s.rlwe.N() {
			return nil, errors.New("not a public key of these parameters")
		}
		if len(a[1])%8 != 0 {
			return nil, errors.New("values are 8-byte little-endian numbers")
		}
		n := len(a[1]) / 8
		slots := s.slots()
		enc := rlwe.NewEncryptor(s.rlwe, pk)
		out := make([][]byte, 0, (n+slots-1)/slots)
		for start := 0; start < n || start == 0; start += slots {
			end := start + slots
			if end > n {
				end = n
			}
			ct, err := s.encryptChunk(enc, a[1][8*start:8*end])
			if err != nil {
				return nil, err
			}
			out = append(out, mustBytes(ct))
			if n == 0 {
				break
			}
		}
		return out, nil
	},
	// rerandomize(pk, ct) -> ct + a fresh encryption of zero (same plaintext, new randomness)
	"rerandomize": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		pk := rlwe.NewPublicKey(s.rlwe)
		if err := pk.UnmarshalBinary(a[0]); err != nil || pk.Value[0].Q.N() != s.rlwe.N() {
			return nil, errors.New("not a public key of these parameters")
		}
		ct, err := s.ciphertext(a[1])
		if err != nil {
			return nil, err
		}
		zero := rlwe.NewCiphertext(s.rlwe, 1, ct.Level())
		if err := rlwe.NewEncryptor(s.rlwe, pk).EncryptZero(zero); err != nil {
			return nil, err
		}
		*zero.MetaData = *ct.MetaData
		if s.bgv != nil {
			// BGV: an encryption of zero at the ciphertext's scale (zero times any scale is zero).
			if err := bgv.NewEvaluator(*s.bgv, nil).Add(ct, zero, ct); err != nil {
				return nil, err
			}
		} else if err := ckks.NewEvaluator(*s.ckks, nil).Add(ct, zero, ct); err != nil {
			return nil, err
		}
		return [][]byte{mustBytes(ct)}, nil
	},
	// sum(gal frame, ct...) -> one ciphertext whose every slot holds the total of all slots
	"sum": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 2); err != nil {
			return nil, err
		}
		gal, err := unframe(a[0])
		if err != nil {
			return nil, err
		}
		evk, err := s.evaluator(nil, gal)
		if err != nil {
			return nil, err
		}
		acc, err := s.ciphertext(a[1])
		if err != nil {
			return nil, err
		}
		for _, b := range a[2:] {
			ct, err := s.ciphertext(b)
			if err != nil {
				return nil, err
			}
			if err := s.add(acc, ct); err != nil {
				return nil, err
			}
		}
		res, err := s.allReduce(evk, acc)
		if err != nil {
			return nil, err
		}
		return [][]byte{mustBytes(res)}, nil
	},
	// mask_sum(gal frame, mask int64s, ct...) -> every slot holds sum_j mask_j * value_j (BGV)
	"mask_sum": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 3); err != nil {
			return nil, err
		}
		if s.bgv == nil {
			return nil, errors.New("masked sums need a BGV preset")
		}
		gal, err := unframe(a[0])
		if err != nil {
			return nil, err
		}
		evk, err := s.evaluator(nil, gal)
		if err != nil {
			return nil, err
		}
		slots := s.slots()
		cts := a[2:]
		if len(a[1]) != 8*slots*len(cts) {
			return nil, errors.New("the mask needs one 8-byte entry per slot of every ciphertext")
		}
		eval := bgv.NewEvaluator(*s.bgv, evk)
		ecd := bgv.NewEncoder(*s.bgv)
		var acc *rlwe.Ciphertext
		for i, cb := range cts {
			ct, err := s.ciphertext(cb)
			if err != nil {
				return nil, err
			}
			mask := make([]int64, slots)
			for j := range mask {
				mask[j] = int64(binary.LittleEndian.Uint64(a[1][8*(i*slots+j):]))
				if mask[j] != 0 && mask[j] != 1 {
					return nil, errors.New("a mask entry is not 0 or 1")
				}
			}
			pt := bgv.NewPlaintext(*s.bgv, ct.Level())
			if err := ecd.Encode(mask, pt); err != nil {
				return nil, err
			}
			prod, err := eval.MulNew(ct, pt)
			if err != nil {
				return nil, err
			}
			if acc == nil {
				acc = prod
			} else if err := eval.Add(acc, prod, acc); err != nil {
				return nil, err
			}
		}
		res, err := s.allReduce(evk, acc)
		if err != nil {
			return nil, err
		}
		return [][]byte{mustBytes(res)}, nil
	},
	// dot(rlk, gal frame, n, a_0..a_{n-1}, b_0..b_{n-1}) -> every slot holds sum_i a_i * b_i
	"dot": func(s *scheme, a [][]byte) ([][]byte, error) {
		if err := need(a, 5); err != nil {
			return nil, err
		}
		gal, err := unframe(a[1])
		if err != nil {
			return nil, err
		}
		evk, err := s.evaluator(a[0], gal)
		if err != nil {
			return nil, err
		}
		n, err := u64s(a[2])
		if err != nil || len(n) != 1 || n[0] == 0 || len(a) != 3+2*int(n[0]) {
			return nil, errors.New("dot needs n, then n ciphertexts of each side")
		}
		var acc *rlwe.Ciphertext
		for i := 0; i < int(n[0]); i++ {
			x, err := s.ciphertext(a[3+i])
			if err != nil {
				return nil, err
			}
			y, err := s.ciphertext(a[3+int(n[0])+i])
			if err != nil {
				return nil, err
			}
			prod, err := s.mul(evk, x, y)
			if err != nil {
				return nil, err
			}
			if acc == nil {
				acc = prod
			} else if err := s.add(acc, prod); err != nil {
				return nil, err
			}
		}
		if err := s.rescale(evk, acc); err != nil {
			return nil, err
		}
		res, err := s.allReduce(evk, acc)
		if err != nil {
			return nil, err
		}
		return [][]byte{mustBytes(res)}, nil
	},
}

func galSeed(seed []byte, g uint64) []byte {
	out := append([]byte{}, seed...)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], g)
	return append(out, b[:]...)
}

func (s *scheme) encryptChunk(enc *rlwe.Encryptor, raw []byte) (*rlwe.Ciphertext, error) {
	count := len(raw) / 8
	if s.bgv != nil {
		vals := make([]int64, s.slots())
		half := int64(s.bgv.PlaintextModulus() / 2)
		for i := 0; i < count; i++ {
			v := int64(binary.LittleEndian.Uint64(raw[8*i:]))
			if v >= half || v <= -half {
				return nil, errors.New("a value is outside the plaintext range")
			}
			vals[i] = v
		}
		pt := bgv.NewPlaintext(*s.bgv, s.bgv.MaxLevel())
		if err := bgv.NewEncoder(*s.bgv).Encode(vals, pt); err != nil {
			return nil, err
		}
		return enc.EncryptNew(pt)
	}
	vals := make([]float64, s.slots())
	for i := 0; i < count; i++ {
		v := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1<<40 {
			return nil, errors.New("a value is not a finite number within +-2^40")
		}
		vals[i] = v
	}
	pt := ckks.NewPlaintext(*s.ckks, s.ckks.MaxLevel())
	if err := ckks.NewEncoder(*s.ckks).Encode(vals, pt); err != nil {
		return nil, err
	}
	return enc.EncryptNew(pt)
}

func (s *scheme) add(acc, ct *rlwe.Ciphertext) error {
	if acc.Level() != ct.Level() {
		return errors.New("ciphertexts at different levels")
	}
	if s.bgv != nil {
		return bgv.NewEvaluator(*s.bgv, nil).Add(acc, ct, acc)
	}
	return ckks.NewEvaluator(*s.ckks, nil).Add(acc, ct, acc)
}

func (s *scheme) mul(evk rlwe.EvaluationKeySet, x, y *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if x.Level() != s.rlwe.MaxLevel() || y.Level() != s.rlwe.MaxLevel() {
		return nil, errors.New("products take fresh ciphertexts")
	}
	if s.bgv != nil {
		return bgv.NewEvaluator(*s.bgv, evk).MulRelinNew(x, y)
	}
	return ckks.NewEvaluator(*s.ckks, evk).MulRelinNew(x, y)
}

func (s *scheme) rescale(evk rlwe.EvaluationKeySet, ct *rlwe.Ciphertext) error {
	if s.bgv != nil {
		return bgv.NewEvaluator(*s.bgv, evk).Rescale(ct, ct)
	}
	return ckks.NewEvaluator(*s.ckks, evk).Rescale(ct, ct)
}

func (s *scheme) allReduce(evk rlwe.EvaluationKeySet, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	out := ct.CopyNew()
	if s.bgv != nil {
		eval := bgv.NewEvaluator(*s.bgv, evk)
		if err := eval.InnerSum(ct, 1, s.bgv.N()>>1, out); err != nil {
			return nil, err
		}
		rot, err := eval.RotateRowsNew(out)
		if err != nil {
			return nil, err
		}
		if err := eval.Add(out, rot, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	eval := ckks.NewEvaluator(*s.ckks, evk)
	if err := eval.InnerSum(ct, 1, s.ckks.MaxSlots(), out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *scheme) decode(pt *rlwe.Plaintext) ([][]byte, error) {
	slots := s.slots()
	raw := make([]byte, 8*slots)
	if s.bgv != nil {
		vals := make([]int64, slots)
		if err := bgv.NewEncoder(*s.bgv).Decode(pt, vals); err != nil {
			return nil, err
		}
		for i, v := range vals {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
		return [][]byte{raw}, nil
	}
	vals := make([]float64, slots)
	if err := ckks.NewEncoder(*s.ckks).Decode(pt, vals); err != nil {
		return nil, err
	}
	for i, v := range vals {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	return [][]byte{raw}, nil
}

// ---- the C entry points ----

var schemes = map[string]*scheme{}

func getScheme(name string) (*scheme, error) {
	if s, ok := schemes[name]; ok {
		return s, nil
	}
	mk, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown parameter preset %q", name)
	}
	s, err := mk()
	if err != nil {
		return nil, err
	}
	schemes[name] = s
	return s, nil
}

func call(opName, preset string, in []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s failed: %v", opName, r)
		}
	}()
	fn, ok := ops[opName]
	if !ok {
		return nil, fmt.Errorf("unknown operation %q", opName)
	}
	// The preset cache is the only shared state; it is read and filled under this lock.
	lock <- struct{}{}
	s, err := getScheme(preset)
	<-lock
	if err != nil {
		return nil, err
	}
	args, err := unframe(in)
	if err != nil {
		return nil, err
	}
	res, err := fn(s, args)
	if err != nil {
		return nil, err
	}
	return frame(res), nil
}

var lock = make(chan struct{}, 1)

//export tl_call
func tl_call(op *C.char, preset *C.char, in *C.uchar, inlen C.size_t, out **C.uchar, outlen *C.size_t) C.int {
	data := C.GoBytes(unsafe.Pointer(in), C.int(inlen))
	res, err := call(C.GoString(op), C.GoString(preset), data)
	status := C.int(0)
	if err != nil {
		res = []byte(err.Error())
		status = 1
	}
	buf := C.malloc(C.size_t(len(res)) + 1)
	if len(res) > 0 {
		C.memcpy(buf, unsafe.Pointer(&res[0]), C.size_t(len(res)))
	}
	*out = (*C.uchar)(buf)
	*outlen = C.size_t(len(res))
	return status
}

//export tl_free
func tl_free(p *C.uchar) {
	C.free(unsafe.Pointer(p))
}

func main() {}
