//! Static sentence embeddings, to catch paraphrases the lexical ranking misses ("log out of
//! the shell" vs "leave the command prompt").
//!
//! The model is WordLlama `l2_supercat` (MIT; derived from Llama 2's token embeddings, see
//! `NOTICE`): a text's embedding is the mean of its token vectors, cut to the first [`DIM`]
//! dimensions (the model is Matryoshka-trained, so the prefix is an embedding by itself) and
//! L2-normalised. The table is compiled in (`wordllama-128.bin`, built by
//! `src/search/semantic/wordllama_model.py`) as int8 with one scale per row: no download, no new crate.

mod model;
mod tokenizer;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use model::Model;

pub const DIM: usize = 128;
pub type Vector = [f32; DIM];

static MODEL_BYTES: &[u8] = include_bytes!("wordllama-128.bin");

/// The parsed model, or `None` (logged once) when the compiled-in file is corrupt.
fn model() -> Option<&'static Model<'static>> {
    static MODEL: OnceLock<Option<Model<'static>>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Model::parse(MODEL_BYTES)
                .inspect_err(|e| log::error!("semantic search disabled: embedded model: {e}"))
                .ok()
        })
        .as_ref()
}

/// Mean of the token vectors of `text`, L2-normalised; None when `text` gives no token.
pub fn embed(text: &str) -> Option<Vector> {
    let model = model()?;
    let mut sum = [0.0; DIM];
    let mut tokens = 0_usize;
    tokenizer::for_each_token(model, text, |token| {
        model.add_row(token, &mut sum);
        tokens += 1;
    });
    if tokens == 0 {
        return None;
    }
    // The mean's divisor vanishes in the normalisation, so the sum is normalised directly.
    normalised(sum)
}

/// `v` at unit length, or None for the zero vector.
pub fn normalised(mut v: Vector) -> Option<Vector> {
    let norm = dot(&v, &v).sqrt();
    if !norm.is_normal() {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
}

/// Lanes of independent partial sums: a single running sum is a serial dependency chain
/// the compiler may not reorder, which would keep the loops below scalar.
const LANES: usize = 8;

fn dot(a: &Vector, b: &Vector) -> f32 {
    lane_dot(a, b, |x| x)
}

fn lane_dot<T: Copy>(a: &[T; DIM], b: &Vector, widen: impl Fn(T) -> f32) -> f32 {
    let mut lanes = [0.0_f32; LANES];
    for (xs, ys) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((lane, &x), &y) in lanes.iter_mut().zip(xs).zip(ys) {
            *lane += widen(x) * y;
        }
    }
    lanes.iter().sum()
}

/// The sign bits of a [`Packed`] vector.
pub type Signs = [u64; 2];

/// How many signs differ: 0 for vectors pointing the same way, 128 for opposite ones.
#[inline]
pub fn hamming(a: &Signs, b: &Signs) -> u32 {
    (a[0] ^ b[0]).count_ones() + (a[1] ^ b[1]).count_ones()
}

/// A stored, quantised vector: 132 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Packed {
    scale: f32,
    values: [i8; DIM],
}

impl Packed {
    pub const BYTES: usize = 4 + DIM;

    /// The vector of nothing: scores 0 against everything.
    pub const ZERO: Packed = Packed {
        scale: 0.0,
        values: [0; DIM],
    };

    #[inline]
    pub fn is_zero(&self) -> bool {
        self.scale == 0.0
    }

    /// The signs of the values, one bit each (set when positive): a 16-byte sketch whose
    /// [`hamming`] distance to another ranks vectors roughly as their dot product does.
    pub fn signs(&self) -> Signs {
        let mut bits = [0_u64; 2];
        for (i, &v) in self.values.iter().enumerate() {
            if v > 0 {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        bits
    }

    /// ≈ `self.unpack() · other.unpack()`, in integers: the index compares a question with
    /// every entry of a tenant, and an int8 product with one multiplication by the scales at
    /// the end is several times faster than converting each entry's values to floats.
    #[inline]
    pub fn dot_packed(&self, other: &Packed) -> f32 {
        let mut lanes = [0_i32; LANES];
        for (xs, ys) in self
            .values
            .chunks_exact(LANES)
            .zip(other.values.chunks_exact(LANES))
        {
            for ((lane, &x), &y) in lanes.iter_mut().zip(xs).zip(ys) {
                *lane += i32::from(x) * i32::from(y);
            }
        }
        self.scale * other.scale * lanes.iter().sum::<i32>() as f32
    }

    /// Symmetric int8 quantisation: the largest component maps to ±127. `v` need not be
    /// unit length; a zero or non-finite vector packs to zero.
    pub fn pack(v: &Vector) -> Packed {
        // f32::max ignores NaN, hence the separate finiteness check.
        let peak = v.iter().fold(0.0_f32, |m, x| m.max(x.abs()));
        if !peak.is_normal() || !v.iter().all(|x| x.is_finite()) {
            return Packed {
                scale: 0.0,
                values: [0; DIM],
            };
        }
        let scale = peak / 127.0;
        let values = v.map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8);
        Packed { scale, values }
    }

    /// ≈ `self.unpack() · query`.
    pub fn dot(&self, query: &Vector) -> f32 {
        self.scale * lane_dot(&self.values, query, f32::from)
    }

    pub fn unpack(&self) -> Vector {
        self.values.map(|q| self.scale * f32::from(q))
    }

    /// Appends exactly [`Packed::BYTES`] bytes: the f32 scale, then the values, little endian.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend(self.values.iter().map(|&q| q.to_le_bytes()[0]));
    }

    /// The inverse of [`Packed::write`]; None unless `bytes` is exactly [`Packed::BYTES`]
    /// long with a finite scale.
    pub fn read(bytes: &[u8]) -> Option<Packed> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let (scale, values) = bytes.split_at(4);
        let scale = f32::from_le_bytes(scale.try_into().ok()?);
        if !scale.is_finite() {
            return None;
        }
        let mut packed = Packed {
            scale,
            values: [0; DIM],
        };
        for (q, &byte) in packed.values.iter_mut().zip(values) {
            *q = i8::from_le_bytes([byte]);
        }
        Some(packed)
    }
}
