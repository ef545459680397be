//! Inequality measures over earnings and contributions.

/// The Gini coefficient of `values` (0: all equal; towards 1: one holds everything).
pub fn gini(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| *v >= 0.0).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let total: f64 = sorted.iter().sum();
    if sorted.is_empty() || total <= 0.0 {
        return 0.0;
    }
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, v)| (2.0 * (i as f64 + 1.0) - n - 1.0) * v)
        .sum();
    weighted / (n * total)
}

/// The Lorenz curve of `values` at `points` evenly spaced population shares: the share of the
/// total held by the poorest 1/points, 2/points, ... of the population.
pub fn lorenz(values: &[f64], points: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| *v >= 0.0).collect();
    sorted.sort_by(f64::total_cmp);
    let total: f64 = sorted.iter().sum();
    if sorted.is_empty() || total <= 0.0 || points == 0 {
        return vec![0.0; points];
    }
    let mut cumulative = Vec::with_capacity(sorted.len());
    let mut sum = 0.0;
    for v in &sorted {
        sum += v;
        cumulative.push(sum);
    }
    (1..=points)
        .map(|k| {
            let upto = (sorted.len() * k).div_ceil(points);
            cumulative[upto.clamp(1, sorted.len()) - 1] / total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_shares_have_no_inequality_and_one_holder_has_nearly_all() {
        assert!(gini(&[5.0; 100]).abs() < 1e-12);
        let mut one = vec![0.0; 99];
        one.push(10.0);
        assert!((gini(&one) - 0.99).abs() < 1e-9);
        let curve = lorenz(&[1.0; 10], 5);
        assert_eq!(curve.len(), 5);
        assert!((curve[1] - 0.4).abs() < 1e-12 && (curve[4] - 1.0).abs() < 1e-12);
    }
}
