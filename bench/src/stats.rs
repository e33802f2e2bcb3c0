//! Medians, percentiles and ranges.

/// A sorted copy of `v`.
fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// The `p`-th percentile (0..=100) by nearest rank; NaN for no samples.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let s = sorted(v);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The median.
pub fn median(v: &[f64]) -> f64 {
    let s = sorted(v);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// `median (min–max)` of repeated measurements, with `digits` decimals.
pub fn spread(v: &[f64], digits: usize) -> String {
    let s = sorted(v);
    match s.len() {
        0 => "n/a".into(),
        1 => format!("{:.digits$}", s[0]),
        _ => format!(
            "{:.digits$} ({:.digits$}–{:.digits$})",
            median(&s),
            s[0],
            s[s.len() - 1]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&v), 3.0);
        assert_eq!(median(&[1.0, 2.0]), 1.5);
        assert_eq!(percentile(&v, 99.0), 5.0);
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(spread(&v, 1), "3.0 (1.0–5.0)");
        assert!(median(&[]).is_nan());
    }
}
