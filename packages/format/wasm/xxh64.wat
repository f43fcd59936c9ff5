;; XXH64 (seed 0) over bytes in a shared linear memory, streaming, with no copy of the input.
;;
;; The pool of read buffers that bookcrate hashes *is* this module's memory (imported, shared with
;; the reading thread), so a hasher reads the bytes where the disk read put them. xxhash-wasm, which
;; bookcrate uses elsewhere, owns its memory and must copy every input into it first: on the
;; hashing thread that copy cost as much as the hashing.
;;
;; State of one hasher, 80 bytes at $s (callers space them 96 bytes apart):
;;   0 total length (i64)   8 v1   16 v2   24 v3   32 v4 (i64)
;;   40..72 up to 31 bytes not yet hashed   72 how many (i32)
;; Build: node packages/format/wasm/build.mjs (regenerates src/xxh64-wasm.ts from this file).
(module
  (import "env" "memory" (memory 1 65536 shared))
  (global $P1 i64 (i64.const 0x9E3779B185EBCA87))
  (global $P2 i64 (i64.const 0xC2B2AE3D27D4EB4F))
  (global $P3 i64 (i64.const 0x165667B19E3779F9))
  (global $P4 i64 (i64.const 0x85EBCA77C2B2AE63))
  (global $P5 i64 (i64.const 0x27D4EB2F165667C5))

  (func $round (param $acc i64) (param $input i64) (result i64)
    (i64.mul
      (i64.rotl (i64.add (local.get $acc) (i64.mul (local.get $input) (global.get $P2))) (i64.const 31))
      (global.get $P1)))

  (func $merge (param $acc i64) (param $val i64) (result i64)
    (i64.add
      (i64.mul (i64.xor (local.get $acc) (call $round (i64.const 0) (local.get $val))) (global.get $P1))
      (global.get $P4)))

  (func (export "init") (param $s i32)
    (i64.store offset=0 (local.get $s) (i64.const 0))
    (i64.store offset=8 (local.get $s) (i64.add (global.get $P1) (global.get $P2)))
    (i64.store offset=16 (local.get $s) (global.get $P2))
    (i64.store offset=24 (local.get $s) (i64.const 0))
    (i64.store offset=32 (local.get $s) (i64.sub (i64.const 0) (global.get $P1)))
    (i32.store offset=72 (local.get $s) (i32.const 0)))

  (func (export "update") (param $s i32) (param $p i32) (param $len i32)
    (local $end i32) (local $limit i32) (local $ms i32) (local $fill i32)
    (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (i64.store offset=0 (local.get $s) (i64.add (i64.load offset=0 (local.get $s)) (i64.extend_i32_u (local.get $len))))
    (local.set $ms (i32.load offset=72 (local.get $s)))
    ;; not a whole stripe yet: keep the bytes
    (if (i32.lt_u (i32.add (local.get $ms) (local.get $len)) (i32.const 32))
      (then
        (memory.copy (i32.add (i32.add (local.get $s) (i32.const 40)) (local.get $ms)) (local.get $p) (local.get $len))
        (i32.store offset=72 (local.get $s) (i32.add (local.get $ms) (local.get $len)))
        (return)))
    (local.set $v1 (i64.load offset=8 (local.get $s)))
    (local.set $v2 (i64.load offset=16 (local.get $s)))
    (local.set $v3 (i64.load offset=24 (local.get $s)))
    (local.set $v4 (i64.load offset=32 (local.get $s)))
    ;; complete the kept bytes to a stripe first
    (if (local.get $ms)
      (then
        (local.set $fill (i32.sub (i32.const 32) (local.get $ms)))
        (memory.copy (i32.add (i32.add (local.get $s) (i32.const 40)) (local.get $ms)) (local.get $p) (local.get $fill))
        (local.set $v1 (call $round (local.get $v1) (i64.load offset=40 (local.get $s))))
        (local.set $v2 (call $round (local.get $v2) (i64.load offset=48 (local.get $s))))
        (local.set $v3 (call $round (local.get $v3) (i64.load offset=56 (local.get $s))))
        (local.set $v4 (call $round (local.get $v4) (i64.load offset=64 (local.get $s))))
        (local.set $p (i32.add (local.get $p) (local.get $fill)))))
    ;; whole stripes, in place
    (if (i32.le_u (i32.add (local.get $p) (i32.const 32)) (local.get $end))
      (then
        (local.set $limit (i32.sub (local.get $end) (i32.const 32)))
        (loop $stripes
          ;; the round, written out: a call per lane costs more than the round itself
          (local.set $v1 (i64.mul (i64.rotl (i64.add (local.get $v1) (i64.mul (i64.load offset=0 (local.get $p)) (global.get $P2))) (i64.const 31)) (global.get $P1)))
          (local.set $v2 (i64.mul (i64.rotl (i64.add (local.get $v2) (i64.mul (i64.load offset=8 (local.get $p)) (global.get $P2))) (i64.const 31)) (global.get $P1)))
          (local.set $v3 (i64.mul (i64.rotl (i64.add (local.get $v3) (i64.mul (i64.load offset=16 (local.get $p)) (global.get $P2))) (i64.const 31)) (global.get $P1)))
          (local.set $v4 (i64.mul (i64.rotl (i64.add (local.get $v4) (i64.mul (i64.load offset=24 (local.get $p)) (global.get $P2))) (i64.const 31)) (global.get $P1)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $stripes (i32.le_u (local.get $p) (local.get $limit))))))
    (i64.store offset=8 (local.get $s) (local.get $v1))
    (i64.store offset=16 (local.get $s) (local.get $v2))
    (i64.store offset=24 (local.get $s) (local.get $v3))
    (i64.store offset=32 (local.get $s) (local.get $v4))
    ;; keep the tail
    (local.set $ms (i32.sub (local.get $end) (local.get $p)))
    (memory.copy (i32.add (local.get $s) (i32.const 40)) (local.get $p) (local.get $ms))
    (i32.store offset=72 (local.get $s) (local.get $ms)))

  (func (export "digest") (param $s i32) (result i64)
    (local $total i64) (local $h i64) (local $p i32) (local $end i32)
    (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64)
    (local.set $total (i64.load offset=0 (local.get $s)))
    (local.set $v1 (i64.load offset=8 (local.get $s)))
    (local.set $v2 (i64.load offset=16 (local.get $s)))
    (local.set $v3 (i64.load offset=24 (local.get $s)))
    (local.set $v4 (i64.load offset=32 (local.get $s)))
    (if (i64.ge_u (local.get $total) (i64.const 32))
      (then
        (local.set $h
          (i64.add
            (i64.add (i64.rotl (local.get $v1) (i64.const 1)) (i64.rotl (local.get $v2) (i64.const 7)))
            (i64.add (i64.rotl (local.get $v3) (i64.const 12)) (i64.rotl (local.get $v4) (i64.const 18)))))
        (local.set $h (call $merge (local.get $h) (local.get $v1)))
        (local.set $h (call $merge (local.get $h) (local.get $v2)))
        (local.set $h (call $merge (local.get $h) (local.get $v3)))
        (local.set $h (call $merge (local.get $h) (local.get $v4))))
      (else
        ;; v3 is the seed (0) when no stripe was ever hashed
        (local.set $h (i64.add (local.get $v3) (global.get $P5)))))
    (local.set $h (i64.add (local.get $h) (local.get $total)))
    (local.set $p (i32.add (local.get $s) (i32.const 40)))
    (local.set $end (i32.add (local.get $p) (i32.load offset=72 (local.get $s))))
    (block $done8
      (loop $eights
        (br_if $done8 (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
        (local.set $h (i64.xor (local.get $h) (call $round (i64.const 0) (i64.load (local.get $p)))))
        (local.set $h (i64.add (i64.mul (i64.rotl (local.get $h) (i64.const 27)) (global.get $P1)) (global.get $P4)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $eights)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (local.set $h (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (global.get $P1))))
        (local.set $h (i64.add (i64.mul (i64.rotl (local.get $h) (i64.const 23)) (global.get $P2)) (global.get $P3)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    (block $done1
      (loop $ones
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (global.get $P5))))
        (local.set $h (i64.mul (i64.rotl (local.get $h) (i64.const 11)) (global.get $P1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ones)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))))
    (local.set $h (i64.mul (local.get $h) (global.get $P2)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $h (i64.mul (local.get $h) (global.get $P3)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))
)
