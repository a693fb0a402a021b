//! The platform's template library, called with the component token as `access_token` (WeChat
//! Open Platform docs, "模板库管理": gettemplatedraftlist, addtotemplate, gettemplatelist,
//! deletetemplate).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::endpoint::{endpoint, Passthrough};
use crate::json_answers;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetTemplateDraftList {}
endpoint!(GetTemplateDraftList, Get "/wxa/gettemplatedraftlist", ComponentAsAccessToken => Passthrough);

/// "addtotemplate": a draft into the library as a normal (0) or standard (1) template.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AddToTemplate {
    pub draft_id: i64,
    pub template_type: i64,
}
endpoint!(AddToTemplate, Post "/wxa/addtotemplate", ComponentAsAccessToken => Passthrough);

/// "gettemplatelist", optionally of one `template_type`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetTemplateList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_type: Option<i64>,
}

/// One template of the library; the rest of what WeChat says of it is handed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LibraryTemplate {
    pub template_id: i64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TemplateList {
    #[serde(default)]
    pub template_list: Vec<LibraryTemplate>,
}
endpoint!(GetTemplateList, Get "/wxa/gettemplatelist", ComponentAsAccessToken => TemplateList);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DeleteTemplate {
    pub template_id: i64,
}
endpoint!(DeleteTemplate, Post "/wxa/deletetemplate", ComponentAsAccessToken => Passthrough);

json_answers!(TemplateList);
