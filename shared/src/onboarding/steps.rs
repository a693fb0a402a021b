//! Each step: what it reads of the progress, the one WeChat call it makes next, and what the
//! answer makes of the step (WeChat's errcode, its meaning, the field at fault, what the operator
//! must do next).

use serde_json::Value;

use super::model::*;
use super::{OnboardingError, OnboardingService, ProfilePatch};
use crate::code_release::{CodeError, MiniProgram};
use crate::store::{unix_now, ActionLog, AuthorizationRecords, AuthorizerStore};
use crate::wechat::basic_info::{
    AddCategory, Certificate, CheckNickname, GetAccountBasicInfo, GetCategories, ModifyHeadImage,
    ModifySignature, NewCategory, QueryNickname, SetNickname, UploadImage,
};
use crate::wechat::icp::{
    ApplyIcpFiling, CreateIcpVerifyTask, FilingApplied, FilingStatus, GetIcpEntranceInfo,
    QueryIcpVerifyTask, UploadIcpMedia, FACE_PASSED,
};
use crate::wechat::{Endpoint, Errcode, WechatError};

/// The face-verification notice's validity ("发起小程序管理员人脸核身": 24 h).
const FACE_NOTICE_SECS: i64 = 24 * 3600;

/// What a step did: another move is due now, or the run stops (waiting, or the operator).
pub(super) enum Moved {
    Again,
    Stop,
}

/// What the errcodes of these calls mean, the profile field each concerns and what the operator
/// does next (the pages "设置名称", "修改简介", "修改头像", "添加类目", "申请小程序备案").
const ERRCODES: &[(i64, &str, &str, &str)] = &[
    (
        53010,
        "the name's format is invalid",
        "profile.nickname.nick_name",
        "choose a name of 4 to 30 characters and resubmit",
    ),
    (
        53012,
        "the name is forbidden",
        "profile.nickname.nick_name",
        "choose another name and resubmit",
    ),
    (
        91004,
        "invalid name",
        "profile.nickname.nick_name",
        "choose another name and resubmit",
    ),
    (
        91007,
        "the name is taken",
        "profile.nickname.nick_name",
        "choose another name and resubmit",
    ),
    (
        91009,
        "naming materials are needed",
        "profile.nickname.license",
        "add the business licence (and naming materials) and resubmit",
    ),
    (
        91010,
        "no name change left this year",
        "profile.nickname",
        "wait for next year's quota",
    ),
    (
        91019,
        "a name is under review",
        "profile.nickname",
        "wait for the review to end",
    ),
    (
        40007,
        "invalid media id (expired or uploaded with another token)",
        "profile",
        "resubmit: the media are uploaded again",
    ),
    (
        40009,
        "invalid image size",
        "profile.avatar",
        "use an image of at most 2 MB and resubmit",
    ),
    (
        53200,
        "no introduction change left",
        "profile.signature",
        "wait for the quota to renew",
    ),
    (
        53201,
        "the introduction has a banned word",
        "profile.signature",
        "rewrite the introduction and resubmit",
    ),
    (
        53202,
        "no avatar change left",
        "profile.avatar",
        "wait for the quota to renew",
    ),
    (
        53204,
        "invalid introduction",
        "profile.signature",
        "write 4 to 120 characters and resubmit",
    ),
    (
        53303,
        "invalid category",
        "profile.categories",
        "choose categories of getallcategories and resubmit",
    ),
    (
        53304,
        "the category is already set",
        "profile.categories",
        "remove it from the profile and resubmit",
    ),
    (
        86201,
        "the filing cannot be applied in its status",
        "profile.filing",
        "read the filing status (get_icp_entrance_info)",
    ),
];

fn errcode_entry(code: i64) -> Option<&'static (i64, &'static str, &'static str, &'static str)> {
    ERRCODES.iter().find(|(c, ..)| *c == code)
}

fn meaning(code: i64) -> Option<String> {
    Errcode::from_code(code)
        .meaning()
        .or_else(|| errcode_entry(code).map(|e| e.1))
        .map(str::to_owned)
}

fn set(step: &mut StepRecord, status: StepStatus, next: Option<String>) {
    step.status = status;
    step.next = next;
    if !matches!(status, StepStatus::NeedsOperator) {
        step.field_errors.clear();
    }
    if status.finished() || status == StepStatus::Running {
        step.errcode = None;
        step.errmsg = None;
        step.meaning = None;
    }
}

fn operator(step: &mut StepRecord, next: String, field_errors: Vec<FieldError>) {
    step.status = StepStatus::NeedsOperator;
    step.next = Some(next);
    step.field_errors = field_errors;
}

/// A WeChat refusal or failure made into the step's state.
fn failed(step: &mut StepRecord, error: &CodeError) -> Result<Moved, OnboardingError> {
    match error {
        CodeError::Wechat(e @ WechatError::Api { errcode, errmsg }) => {
            let code = errcode.code();
            step.errcode = Some(code);
            step.errmsg = Some(errmsg.clone());
            step.meaning = meaning(code);
            // A token WeChat still refused after the refresh and retry of `call`: the next run
            // has a fresh one.
            if e.is_transient() || errcode.is_token_invalid() || code == 45009 || code == 45011 {
                set(
                    step,
                    StepStatus::Retrying,
                    Some("WeChat is busy or the quota is spent: the schedule tries again".into()),
                );
                return Ok(Moved::Stop);
            }
            let (field, next) = errcode_entry(code).map(|e| (e.2, e.3)).unwrap_or((
                "profile",
                "see WeChat's errcode, fix the profile and resubmit",
            ));
            operator(
                step,
                next.into(),
                vec![FieldError {
                    field: field.into(),
                    errcode: Some(code),
                    message: meaning(code).unwrap_or_else(|| errmsg.clone()),
                }],
            );
            Ok(Moved::Stop)
        }
        CodeError::Wechat(_) => {
            step.errcode = None;
            step.meaning = Some(error.to_string());
            set(
                step,
                StepStatus::Retrying,
                Some("WeChat could not be reached: the schedule tries again".into()),
            );
            Ok(Moved::Stop)
        }
        CodeError::NotAuthorized(_) | CodeError::NoCodeManagement(_) => {
            operator(
                step,
                format!("{error}: the mini program must authorize the platform again"),
                Vec::new(),
            );
            Ok(Moved::Stop)
        }
        _ => Err(OnboardingError::Malformed(error.to_string())),
    }
}

fn image(media: &Media) -> UploadImage {
    UploadImage {
        file_name: media.file_name.clone(),
        content_type: media.content_type.clone(),
        bytes: media.bytes(),
    }
}

/// `a.b.c` in `value`, created as objects on the way; an array there gets `id` appended.
fn put_at(value: &mut Value, path: &str, id: &str) {
    let mut at = value;
    for key in path.split('.') {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = at
            .as_object_mut()
            .expect("made an object")
            .entry(key.to_owned())
            .or_insert(Value::Null);
    }
    match at {
        Value::Array(items) => items.push(Value::String(id.to_owned())),
        other => *other = Value::String(id.to_owned()),
    }
}

/// apply_icp_filing's body: the profile's data with the media ids and the verify task in place.
fn filing_body(filing: &FilingProfile, progress: &Progress, task_id: &str) -> ApplyIcpFiling {
    let mut whole = serde_json::json!({
        "icp_subject": filing.icp_subject,
        "icp_applets": filing.icp_applets,
        "icp_materials": filing.icp_materials.clone().unwrap_or(Value::Null),
    });
    for (field, id) in &progress.filing_media {
        put_at(&mut whole, field, id);
    }
    put_at(
        &mut whole,
        "icp_subject.principal_info.verify_task_id",
        task_id,
    );
    put_at(
        &mut whole,
        "icp_applets.principal_info.verify_task_id",
        task_id,
    );
    let materials = whole["icp_materials"].take();
    ApplyIcpFiling {
        icp_subject: whole["icp_subject"].take(),
        icp_applets: whole["icp_applets"].take(),
        icp_materials: (!materials.is_null()).then_some(materials),
    }
}

/// The steps a resubmitted part feeds start again; so does any step waiting for the operator.
pub(super) fn apply_patch(o: &mut Onboarding, patch: ProfilePatch, now: i64) {
    let mut again = Vec::new();
    let p = &mut o.progress;
    if let Some(nickname) = patch.nickname {
        o.profile.nickname = Some(nickname);
        p.name_checked = None;
        p.license_media_id = None;
        p.naming_media_ids.clear();
        p.nickname_audit_id = None;
        p.nickname_result = None;
        again.push(StepName::Nickname);
    }
    if let Some(avatar) = patch.avatar {
        o.profile.avatar = Some(avatar);
        p.avatar_media_id = None;
        again.push(StepName::Avatar);
    }
    if let Some(signature) = patch.signature {
        o.profile.signature = Some(signature);
        again.push(StepName::Signature);
    }
    if let Some(categories) = patch.categories {
        o.profile.categories = categories;
        p.certificate_media.clear();
        p.categories_added = false;
        p.category_results.clear();
        again.push(StepName::Category);
    }
    if let Some(filing) = patch.filing {
        o.profile.filing = Some(filing);
        p.filing_media.clear();
        p.filing_applied = false;
        p.audit_data.clear();
        again.extend([
            StepName::FilingEntrance,
            StepName::FilingMedia,
            StepName::FilingApply,
            StepName::FilingReview,
        ]);
        // A task whose verification failed cannot be used again.
        if p.verify_task.as_ref().is_some_and(|t| !t.passed) {
            p.verify_task = None;
            again.push(StepName::FaceVerification);
        }
    }
    for step in &mut o.steps {
        if again.contains(&step.name) || step.status == StepStatus::NeedsOperator {
            step.status = StepStatus::Pending;
            step.errcode = None;
            step.errmsg = None;
            step.meaning = None;
            step.next = None;
            step.field_errors.clear();
            step.deadline = None;
            step.updated_at = now;
        }
    }
}

impl<S, A, L> OnboardingService<S, A, L>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
    L: ActionLog + Sync,
{
    async fn call<E: Endpoint>(&self, appid: &str, request: &E) -> Result<E::Answer, CodeError> {
        crate::wechat::call(&MiniProgram::new(&self.authorization, appid, None), request).await
    }

    /// A call that changes something at WeChat, in the action log.
    async fn change<E: Endpoint>(
        &self,
        o: &Onboarding,
        step: StepName,
        request: &E,
    ) -> Result<E::Answer, CodeError> {
        let answer = self.call(&o.appid, request).await;
        let call = E::PATH.rsplit('/').next().unwrap_or(E::PATH);
        let call = call.split('?').next().unwrap_or(call);
        self.log_call(o, step, call, answer.as_ref().err()).await;
        answer
    }

    pub(super) async fn step(
        &self,
        o: &mut Onboarding,
        name: StepName,
    ) -> Result<Moved, OnboardingError> {
        let result = match name {
            StepName::Nickname => self.nickname(o).await,
            StepName::Avatar => self.avatar(o).await,
            StepName::Signature => self.signature(o).await,
            StepName::Category => self.category(o).await,
            StepName::FilingEntrance => self.entrance(o).await,
            StepName::FilingMedia => self.filing_media(o).await,
            StepName::FaceVerification => self.face(o).await,
            StepName::FilingApply => self.apply(o).await,
            StepName::FilingReview => self.review(o).await,
        };
        match result {
            Ok(moved) => Ok(moved),
            Err(error) => failed(o.step_mut(name), &error),
        }
    }

    /// The quotas, read once before the first change that spends one.
    async fn quotas(&self, o: &mut Onboarding) -> Result<Quotas, CodeError> {
        if let Some(q) = o.progress.quotas {
            return Ok(q);
        }
        let info = self.call(&o.appid, &GetAccountBasicInfo {}).await?;
        let q = Quotas {
            nickname: info.nickname_info,
            signature: info.signature_info,
            head_image: info.head_image_info,
        };
        o.progress.quotas = Some(q);
        Ok(q)
    }

    async fn nickname(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let Some(profile) = o.profile.nickname.clone() else {
            set(o.step_mut(StepName::Nickname), StepStatus::Skipped, None);
            return Ok(Moved::Again);
        };
        let step = StepName::Nickname;
        if let Some(audit_id) = o.progress.nickname_audit_id.clone() {
            let result = match o.progress.nickname_result.clone() {
                Some(result) => result,
                None => {
                    let audit = self
                        .call(
                            &o.appid,
                            &QueryNickname {
                                audit_id: &audit_id,
                            },
                        )
                        .await?;
                    (audit.audit_stat, audit.fail_reason)
                }
            };
            return Ok(match result {
                (3, _) => {
                    set(o.step_mut(step), StepStatus::Done, None);
                    Moved::Again
                }
                (2, reason) => {
                    let s = o.step_mut(step);
                    operator(
                        s,
                        "the name was rejected: choose another (or add naming materials) and resubmit".into(),
                        vec![FieldError {
                            field: "profile.nickname.nick_name".into(),
                            errcode: None,
                            message: reason,
                        }],
                    );
                    Moved::Stop
                }
                _ => {
                    set(
                        o.step_mut(step),
                        StepStatus::Waiting,
                        Some("WeChat reviews the name (wxa_nickname_audit)".into()),
                    );
                    Moved::Stop
                }
            });
        }
        let quotas = self.quotas(o).await?;
        if quotas.nickname.spent() {
            operator(
                o.step_mut(step),
                format!(
                    "no name change left this year ({} of {} used)",
                    quotas.nickname.modify_used_count, quotas.nickname.modify_quota
                ),
                Vec::new(),
            );
            return Ok(Moved::Stop);
        }
        if o.progress.name_checked.as_deref() != Some(profile.nick_name.as_str()) {
            let check = self
                .call(
                    &o.appid,
                    &CheckNickname {
                        nick_name: &profile.nick_name,
                    },
                )
                .await?;
            if check.hit_condition && profile.naming_other_stuff.is_empty() {
                operator(
                    o.step_mut(step),
                    "the name needs naming materials: add profile.nickname.naming_other_stuff and resubmit".into(),
                    vec![FieldError {
                        field: "profile.nickname.naming_other_stuff".into(),
                        errcode: None,
                        message: check.wording,
                    }],
                );
                return Ok(Moved::Stop);
            }
            o.progress.name_checked = Some(profile.nick_name.clone());
            set(o.step_mut(step), StepStatus::Running, None);
            return Ok(Moved::Again);
        }
        if o.progress.license_media_id.is_none() {
            let uploaded = self.change(o, step, &image(&profile.license)).await?;
            o.progress.license_media_id = Some(uploaded.media_id);
            return Ok(Moved::Again);
        }
        if let Some(next) = profile
            .naming_other_stuff
            .get(o.progress.naming_media_ids.len())
        {
            let uploaded = self.change(o, step, &image(next)).await?;
            o.progress.naming_media_ids.push(uploaded.media_id);
            return Ok(Moved::Again);
        }
        let ids = &o.progress.naming_media_ids;
        let request = SetNickname {
            nick_name: &profile.nick_name,
            license: o.progress.license_media_id.as_deref(),
            naming_other_stuff_1: ids.first().map(String::as_str),
            naming_other_stuff_2: ids.get(1).map(String::as_str),
        };
        let answer = self.change(o, step, &request).await?;
        match answer.audit_id() {
            Some(audit_id) => {
                o.progress.nickname_audit_id = Some(audit_id);
                set(
                    o.step_mut(step),
                    StepStatus::Waiting,
                    Some("WeChat reviews the name (wxa_nickname_audit)".into()),
                );
                Ok(Moved::Stop)
            }
            None => {
                set(o.step_mut(step), StepStatus::Done, None);
                Ok(Moved::Again)
            }
        }
    }

    async fn avatar(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::Avatar;
        let Some(media) = o.profile.avatar.clone() else {
            set(o.step_mut(step), StepStatus::Skipped, None);
            return Ok(Moved::Again);
        };
        let quotas = self.quotas(o).await?;
        if quotas.head_image.spent() {
            operator(
                o.step_mut(step),
                "no avatar change left this year".into(),
                Vec::new(),
            );
            return Ok(Moved::Stop);
        }
        let Some(id) = o.progress.avatar_media_id.clone() else {
            let uploaded = self.change(o, step, &image(&media)).await?;
            o.progress.avatar_media_id = Some(uploaded.media_id);
            set(o.step_mut(step), StepStatus::Running, None);
            return Ok(Moved::Again);
        };
        self.change(o, step, &ModifyHeadImage::whole(&id)).await?;
        set(o.step_mut(step), StepStatus::Done, None);
        Ok(Moved::Again)
    }

    async fn signature(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::Signature;
        let Some(signature) = o.profile.signature.clone() else {
            set(o.step_mut(step), StepStatus::Skipped, None);
            return Ok(Moved::Again);
        };
        let quotas = self.quotas(o).await?;
        if quotas.signature.spent() {
            operator(
                o.step_mut(step),
                "no introduction change left".into(),
                Vec::new(),
            );
            return Ok(Moved::Stop);
        }
        self.change(
            o,
            step,
            &ModifySignature {
                signature: &signature,
            },
        )
        .await?;
        set(o.step_mut(step), StepStatus::Done, None);
        Ok(Moved::Again)
    }

    async fn category(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::Category;
        let wanted = o.profile.categories.clone();
        if wanted.is_empty() {
            set(o.step_mut(step), StepStatus::Skipped, None);
            return Ok(Moved::Again);
        }
        if !o.progress.categories_added {
            for c in &wanted {
                for cert in &c.certificates {
                    let key = format!("{}-{}-{}", c.first, c.second, cert.key);
                    if !o.progress.certificate_media.contains_key(&key) {
                        let uploaded = self.change(o, step, &image(&cert.media)).await?;
                        o.progress.certificate_media.insert(key, uploaded.media_id);
                        set(o.step_mut(step), StepStatus::Running, None);
                        return Ok(Moved::Again);
                    }
                }
            }
            let categories = wanted
                .iter()
                .map(|c| NewCategory {
                    first: c.first,
                    second: c.second,
                    certicates: c
                        .certificates
                        .iter()
                        .map(|cert| Certificate {
                            key: cert.key.clone(),
                            value: o.progress.certificate_media
                                [&format!("{}-{}-{}", c.first, c.second, cert.key)]
                                .clone(),
                        })
                        .collect(),
                })
                .collect();
            self.change(o, step, &AddCategory { categories }).await?;
            o.progress.categories_added = true;
            set(
                o.step_mut(step),
                StepStatus::Waiting,
                Some("WeChat reviews the categories (wxa_category_audit)".into()),
            );
            return Ok(Moved::Stop);
        }
        let pushed_all = wanted.iter().all(|c| {
            o.progress
                .category_results
                .contains_key(&format!("{}-{}", c.first, c.second))
        });
        if !pushed_all {
            let answer = self.call(&o.appid, &GetCategories {}).await?;
            for c in answer.categories.iter().filter(|c| c.audit_status != 1) {
                o.progress.category_results.insert(
                    format!("{}-{}", c.first, c.second),
                    (c.audit_status, c.audit_reason.clone()),
                );
            }
        }
        let mut rejected = Vec::new();
        let mut reviewing = false;
        for (i, c) in wanted.iter().enumerate() {
            match o
                .progress
                .category_results
                .get(&format!("{}-{}", c.first, c.second))
            {
                Some((3, _)) => {}
                Some((2, reason)) => rejected.push(FieldError {
                    field: format!("profile.categories[{i}]"),
                    errcode: None,
                    message: reason.clone(),
                }),
                _ => reviewing = true,
            }
        }
        if !rejected.is_empty() {
            operator(o.step_mut(step), "a category was rejected: fix its certificates (or choose another) and resubmit profile.categories".into(), rejected);
            return Ok(Moved::Stop);
        }
        if reviewing {
            set(
                o.step_mut(step),
                StepStatus::Waiting,
                Some("WeChat reviews the categories (wxa_category_audit)".into()),
            );
            return Ok(Moved::Stop);
        }
        set(o.step_mut(step), StepStatus::Done, None);
        Ok(Moved::Again)
    }

    async fn entrance(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let info = self.call(&o.appid, &GetIcpEntranceInfo {}).await?.info;
        o.progress.filing_status = Some(info.status);
        let status = FilingStatus::from_wechat(info.status);
        let skip = |o: &mut Onboarding, steps: &[StepName]| {
            for s in steps {
                set(o.step_mut(*s), StepStatus::Skipped, None);
            }
        };
        let filing_steps = [
            StepName::FilingMedia,
            StepName::FaceVerification,
            StepName::FilingApply,
        ];
        if status == FilingStatus::Filed {
            skip(o, &filing_steps);
            skip(o, &[StepName::FilingReview]);
            set(
                o.step_mut(StepName::FilingEntrance),
                StepStatus::Done,
                Some("already filed".into()),
            );
            return Ok(Moved::Again);
        }
        if status.in_review() {
            o.progress.filing_applied = true;
            skip(o, &filing_steps);
            set(o.step_mut(StepName::FilingEntrance), StepStatus::Done, None);
            return Ok(Moved::Again);
        }
        let step = o.step_mut(StepName::FilingEntrance);
        if !(status.may_apply() && info.available == 1) {
            operator(
                step,
                format!(
                    "WeChat does not take a filing now ({}, available = {})",
                    status.describe(),
                    info.available
                ),
                Vec::new(),
            );
            return Ok(Moved::Stop);
        }
        if o.profile.filing.is_none() {
            let step = o.step_mut(StepName::FilingEntrance);
            operator(step, "not filed: resubmit with profile.filing (the subject, the mini program, the media)".into(), Vec::new());
            return Ok(Moved::Stop);
        }
        set(o.step_mut(StepName::FilingEntrance), StepStatus::Done, None);
        Ok(Moved::Again)
    }

    async fn filing_media(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::FilingMedia;
        let media = o
            .profile
            .filing
            .as_ref()
            .map(|f| f.media.clone())
            .unwrap_or_default();
        let Some(next) = media
            .iter()
            .find(|m| !o.progress.filing_media.contains_key(&m.icp_order_field))
        else {
            set(o.step_mut(step), StepStatus::Done, None);
            return Ok(Moved::Again);
        };
        let request = UploadIcpMedia {
            media_type: next.media_type.clone(),
            certificate_type: next.certificate_type,
            icp_order_field: next.icp_order_field.clone(),
            file_name: next.media.file_name.clone(),
            content_type: next.media.content_type.clone(),
            bytes: next.media.bytes(),
        };
        let uploaded = self.change(o, step, &request).await?;
        o.progress
            .filing_media
            .insert(next.icp_order_field.clone(), uploaded.media_id);
        set(o.step_mut(step), StepStatus::Running, None);
        Ok(Moved::Again)
    }

    async fn face(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::FaceVerification;
        let mut replaces = 0;
        if let Some(task) = o.progress.verify_task.clone() {
            if task.passed {
                set(o.step_mut(step), StepStatus::Done, None);
                return Ok(Moved::Again);
            }
            let finished_unverified = match task.result {
                Some(result) => result != FACE_PASSED,
                None => {
                    let state = self
                        .call(
                            &o.appid,
                            &QueryIcpVerifyTask {
                                task_id: &task.task_id,
                            },
                        )
                        .await?;
                    if state.is_finish && state.face_status == FACE_PASSED {
                        if let Some(t) = o.progress.verify_task.as_mut() {
                            t.passed = true;
                        }
                        set(o.step_mut(step), StepStatus::Done, None);
                        return Ok(Moved::Again);
                    }
                    state.is_finish
                }
            };
            if !finished_unverified {
                let s = o.step_mut(step);
                s.deadline = Some(task.deadline);
                set(s, StepStatus::Waiting, Some(format!("waiting for face verification: the legal person must verify in WeChat before {}", task.deadline)));
                return Ok(Moved::Stop);
            }
            replaces = task.replaces + 1;
        }
        let created = self
            .change(
                o,
                step,
                &CreateIcpVerifyTask {
                    along_with_auth: false,
                },
            )
            .await?;
        let now = unix_now();
        let deadline = now + FACE_NOTICE_SECS;
        o.progress.verify_task = Some(VerifyTask {
            task_id: created.task_id,
            created_at: now,
            deadline,
            passed: false,
            result: None,
            replaces,
        });
        let s = o.step_mut(step);
        s.deadline = Some(deadline);
        let again = if replaces > 0 {
            "the last task expired or failed, a new notice was sent; "
        } else {
            ""
        };
        set(s, StepStatus::Waiting, Some(format!("waiting for face verification: {again}the legal person must verify in WeChat before {deadline}")));
        Ok(Moved::Stop)
    }

    async fn apply(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::FilingApply;
        let (Some(filing), Some(task)) = (o.profile.filing.clone(), o.progress.verify_task.clone())
        else {
            operator(
                o.step_mut(step),
                "resubmit with profile.filing".into(),
                Vec::new(),
            );
            return Ok(Moved::Stop);
        };
        let body = filing_body(&filing, &o.progress, &task.task_id);
        match self.change(o, step, &body).await? {
            FilingApplied::Accepted => {
                o.progress.filing_applied = true;
                o.progress.filing_status = Some(2);
                set(o.step_mut(step), StepStatus::Done, None);
                Ok(Moved::Again)
            }
            FilingApplied::Refused {
                errcode,
                errmsg,
                hints,
            } => {
                let s = o.step_mut(step);
                s.errcode = Some(errcode.code());
                s.errmsg = Some(errmsg);
                s.meaning = meaning(errcode.code());
                let errors = hints
                    .into_iter()
                    .map(|h| FieldError {
                        field: format!("profile.filing.{}", h.err_field),
                        errcode: Some(h.errcode),
                        message: h.errmsg,
                    })
                    .collect();
                operator(
                    s,
                    "WeChat refused the filing: fix the fields named and resubmit profile.filing"
                        .into(),
                    errors,
                );
                Ok(Moved::Stop)
            }
        }
    }

    async fn review(&self, o: &mut Onboarding) -> Result<Moved, CodeError> {
        let step = StepName::FilingReview;
        // A pushed "filed" is taken as is; anything else is read (with the rejection's reasons).
        let (status, audit_data) = if o.filed() {
            (FilingStatus::Filed, Vec::new())
        } else {
            let info = self.call(&o.appid, &GetIcpEntranceInfo {}).await?.info;
            (FilingStatus::from_wechat(info.status), info.audit_data)
        };
        o.progress.filing_status = Some(match status {
            FilingStatus::PlatformReview => 2,
            FilingStatus::PlatformRejected => 3,
            FilingStatus::AuthorityReview => 4,
            FilingStatus::AuthorityRejected => 5,
            FilingStatus::Filed => 6,
            FilingStatus::NotFiled => 1024,
            FilingStatus::Other(n) => n,
        });
        o.progress.audit_data = audit_data.clone();
        match status {
            FilingStatus::Filed => {
                set(o.step_mut(step), StepStatus::Done, Some("filed".into()));
                Ok(Moved::Again)
            }
            FilingStatus::PlatformRejected | FilingStatus::AuthorityRejected => {
                let errors = audit_data
                    .into_iter()
                    .map(|d| FieldError {
                        field: format!("profile.filing.{}", d.key_name),
                        errcode: None,
                        message: format!("{} {}", d.error, d.suggest).trim().to_owned(),
                    })
                    .collect();
                operator(
                    o.step_mut(step),
                    format!(
                        "the filing was {}: fix the fields named and resubmit profile.filing",
                        status.describe()
                    ),
                    errors,
                );
                Ok(Moved::Stop)
            }
            other => {
                set(
                    o.step_mut(step),
                    StepStatus::Waiting,
                    Some(format!("the filing is in {}", other.describe())),
                );
                Ok(Moved::Stop)
            }
        }
    }
}
