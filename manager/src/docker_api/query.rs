//! A request's query string as docker's handlers read it: Go's
//! `httputils.BoolValue`, integers, and the JSON `filters` argument.

use super::error::ApiError;
use std::collections::BTreeMap;

/// The decoded query parameters (the last value of a repeated key wins,
/// as Go's `r.Form.Get` returns the first; docker clients never repeat).
#[derive(Debug, Default, Clone)]
pub struct Query {
    values: BTreeMap<String, String>,
    /// Every pair in order, for the parameters docker repeats
    /// (`changes`, `names`).
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let mut values = BTreeMap::new();
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            values.entry(k.to_string()).or_insert_with(|| v.to_string());
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Query { values, pairs }
    }

    /// Every value of a repeated parameter, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A non-empty value.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Go's `BoolValue`: anything but "", "0", "no", "false", "none".
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            )
        })
    }

    /// An integer parameter; absent or empty: none; not a number: 400
    /// naming the parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for {key}: {v:?}: not an integer"))
            }),
        }
    }

    /// docker's `filters` argument: `{"key": ["v", ...]}`, or the old
    /// `{"key": {"v": true}}` form.
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let Some(raw) = self.get("filters").filter(|v| !v.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filters {raw:?}: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(ApiError::bad_request(format!(
                "invalid filters {raw:?}: not a JSON object"
            )));
        };
        let mut out = BTreeMap::new();
        for (key, v) in map {
            let values = match v {
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .map(|x| match x {
                        serde_json::Value::String(s) => Ok(s),
                        other => Err(other),
                    })
                    .collect::<Result<Vec<_>, _>>(),
                serde_json::Value::Object(m) => Ok(m
                    .into_iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k)
                    .collect()),
                other => Err(other),
            }
            .map_err(|bad| {
                ApiError::bad_request(format!(
                    "invalid filter {key:?}: value {bad} is not a string"
                ))
            })?;
            out.insert(key, values);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bools_ints_and_filters_as_docker() {
        let q = Query::parse(Some(
            "all=1&size=False&t=5&bad=x&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D",
        ));
        assert!(q.bool("all"));
        assert!(!q.bool("size"));
        assert!(!q.bool("missing"));
        assert_eq!(q.int("t").unwrap(), Some(5));
        assert_eq!(q.int("bad").unwrap_err().status.as_u16(), 400);
        assert_eq!(q.filters().unwrap()["status"], vec!["exited".to_string()]);
        let old = Query::parse(Some("filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D"));
        assert_eq!(old.filters().unwrap()["label"], vec!["a=b".to_string()]);
        assert!(Query::parse(Some("filters=%5B1%5D")).filters().is_err());
    }
}
