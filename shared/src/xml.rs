//! A small, safe reader for WeChat's flat `<xml>…</xml>` documents (quick-xml underneath).
//!
//! Values may or may not be wrapped in CDATA. DOCTYPE declarations are refused, so no entity can
//! be defined; references other than the five predefined entities and character references are
//! refused too. Nested elements (e.g. `info` of a fast-registration push) are kept as children.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

const MAX_DEPTH: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
    #[error("entity reference &{0}; is not accepted")]
    Entity(String),
    #[error("root element must be <xml>, found <{0}>")]
    WrongRoot(String),
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("document has no root element")]
    Empty,
    #[error("missing field {0}")]
    MissingField(&'static str),
    #[error("field {field} is not an integer: {value:?}")]
    NotAnInteger { field: &'static str, value: String },
}

/// One element: its text (CDATA and text joined) and its child elements in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Text of the first child with this name.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Text of a required child; empty text counts as missing.
    pub fn required(&self, name: &'static str) -> Result<&str, XmlError> {
        match self.text_of(name).map(str::trim) {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(XmlError::MissingField(name)),
        }
    }

    /// A required integer child.
    pub fn required_i64(&self, name: &'static str) -> Result<i64, XmlError> {
        let text = self.required(name)?;
        text.parse().map_err(|_| XmlError::NotAnInteger {
            field: name,
            value: text.to_owned(),
        })
    }

    /// An optional integer child (absent or empty → None).
    pub fn optional_i64(&self, name: &'static str) -> Result<Option<i64>, XmlError> {
        match self.text_of(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(_) => self.required_i64(name).map(Some),
        }
    }
}

/// Parses a document whose root is `<xml>`.
pub fn parse(document: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(document);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let name = start.local_name().into_inner().to_owned();
                if stack.is_empty() && name != "xml" {
                    return Err(XmlError::WrongRoot(name));
                }
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let name = start.local_name().into_inner().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Element {
                        name,
                        ..Element::default()
                    }),
                    None if name == "xml" && root.is_none() => {
                        root = Some(Element {
                            name,
                            ..Element::default()
                        })
                    }
                    None => return Err(XmlError::WrongRoot(name)),
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                append_text(&mut stack, &text.xml10_content())?;
            }
            Event::CData(cdata) => {
                append_text(&mut stack, &cdata.xml10_content())?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.into_inner();
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::Entity(name.to_string()))?
                            .to_owned()
                    }
                };
                append_text(&mut stack, &resolved)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    root.ok_or(XmlError::Empty)
}

fn append_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed("text outside the root element".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_with_and_without_cdata() {
        let doc =
            parse("<xml><A><![CDATA[x<y]]></A><B>12</B><C>a &amp; b &#26159;</C></xml>").unwrap();
        assert_eq!(doc.text_of("A"), Some("x<y"));
        assert_eq!(doc.required_i64("B").unwrap(), 12);
        assert_eq!(doc.text_of("C"), Some("a & b 是"));
    }

    #[test]
    fn keeps_nested_elements() {
        let doc =
            parse("<xml><info><name><![CDATA[n]]></name><code>c</code></info></xml>").unwrap();
        let info = doc.child("info").unwrap();
        assert_eq!(info.text_of("name"), Some("n"));
        assert_eq!(info.text_of("code"), Some("c"));
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>"#;
        assert_eq!(parse(xxe), Err(XmlError::Doctype));
        assert_eq!(
            parse("<xml><A>&e;</A></xml>"),
            Err(XmlError::Entity("e".into()))
        );
    }

    #[test]
    fn refuses_wrong_root_unclosed_and_deep_documents() {
        assert_eq!(
            parse("<root><A>1</A></root>"),
            Err(XmlError::WrongRoot("root".into()))
        );
        assert!(matches!(
            parse("<xml><A>1</A>"),
            Err(XmlError::Malformed(_))
        ));
        assert_eq!(parse(""), Err(XmlError::Empty));
        let deep = format!("<xml>{}{}</xml>", "<a>".repeat(10), "</a>".repeat(10));
        assert_eq!(parse(&deep), Err(XmlError::TooDeep));
        assert!(matches!(
            parse("<xml></xml><xml></xml>"),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn integer_fields_are_checked() {
        let doc = parse("<xml><T>12x</T><E></E></xml>").unwrap();
        assert!(matches!(
            doc.required_i64("T"),
            Err(XmlError::NotAnInteger { field: "T", .. })
        ));
        assert_eq!(doc.required("E"), Err(XmlError::MissingField("E")));
        assert_eq!(doc.optional_i64("E"), Ok(None));
    }
}
