//! What a client that knows the contracts only through server reflection
//! (grpcurl, `buf curl`) can do: resolve every service a server lists, on
//! both versions of the protocol, and read the `google.rpc` error details
//! of a rejected call, with descriptors it got from the server alone.

use crate::support::{TestApp, recruiting::authed};

use std::collections::BTreeMap;

use bytes::{Buf, BufMut};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use talent_proto::talent::recruiting::v1 as pb;
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

/// The error details the services send, which a client must resolve by the
/// name in their `Any` type URL.
const ERROR_DETAILS: &[&str] = &[
    "google.rpc.BadRequest",
    "google.rpc.ErrorInfo",
    "google.rpc.RetryInfo",
    "google.rpc.QuotaFailure",
];

/// One reflection request.
pub(crate) enum Ask {
    ListServices,
    FileContainingSymbol(String),
    FileByFilename(String),
}

/// Its answer: service names, encoded `FileDescriptorProto`s, or an error.
pub(crate) enum Answer {
    Services(Vec<String>),
    Files(Vec<Vec<u8>>),
    Error(String),
}

/// `async fn $name(channel, ask) -> Answer` over one version of the
/// reflection protocol (the two versions' messages are distinct types).
macro_rules! reflection_version {
    ($name:ident, $version:ident) => {
        pub(crate) async fn $name(channel: Channel, ask: Ask) -> Answer {
            use tonic_reflection::pb::$version::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let message_request = match ask {
                Ask::ListServices => MessageRequest::ListServices(String::new()),
                Ask::FileContainingSymbol(symbol) => MessageRequest::FileContainingSymbol(symbol),
                Ask::FileByFilename(file) => MessageRequest::FileByFilename(file),
            };
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(message_request),
            };
            let mut responses = ServerReflectionClient::new(channel)
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .expect("the reflection service answers")
                .into_inner();
            match responses.next().await.expect("one answer") {
                Err(status) => Answer::Error(format!("{:?}: {}", status.code(), status.message())),
                Ok(response) => match response.message_response {
                    Some(MessageResponse::ListServicesResponse(list)) => {
                        Answer::Services(list.service.into_iter().map(|s| s.name).collect())
                    }
                    Some(MessageResponse::FileDescriptorResponse(files)) => {
                        Answer::Files(files.file_descriptor_proto)
                    }
                    Some(MessageResponse::ErrorResponse(error)) => {
                        Answer::Error(format!("{}: {}", error.error_code, error.error_message))
                    }
                    other => panic!("unexpected reflection answer {other:?}"),
                },
            }
        }
    };
}

reflection_version!(ask_v1, v1);
reflection_version!(ask_v1alpha, v1alpha);

/// The contracts as a reflection-only client learns them: the services the
/// server lists, and every file that declares them or an error detail,
/// with the files those import, fetched by name until none is missing.
struct Reflected {
    services: Vec<String>,
    pool: DescriptorPool,
}

impl Reflected {
    /// Asks through `ask`; panics naming the first symbol or file that the
    /// server cannot describe.
    async fn from<F, Fut>(ask: F) -> Self
    where
        F: Fn(Ask) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let Answer::Services(services) = ask(Ask::ListServices).await else {
            panic!("ListServices failed");
        };
        let symbols = services
            .iter()
            .map(String::as_str)
            .chain(ERROR_DETAILS.iter().copied());
        let mut pending: Vec<Ask> = symbols
            .map(|s| Ask::FileContainingSymbol(s.to_owned()))
            .collect();
        let mut files: BTreeMap<String, prost_types::FileDescriptorProto> = BTreeMap::new();
        while let Some(next) = pending.pop() {
            let what = match &next {
                Ask::FileContainingSymbol(symbol) => format!("symbol {symbol}"),
                Ask::FileByFilename(file) => format!("file {file}"),
                Ask::ListServices => unreachable!(),
            };
            let encoded = match ask(next).await {
                Answer::Files(encoded) => encoded,
                Answer::Error(error) => panic!("reflection cannot describe {what}: {error}"),
                Answer::Services(_) => panic!("a list of services for {what}"),
            };
            for bytes in encoded {
                let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .expect("a FileDescriptorProto");
                for dependency in &file.dependency {
                    if !files.contains_key(dependency) {
                        pending.push(Ask::FileByFilename(dependency.clone()));
                    }
                }
                files.insert(file.name().to_owned(), file);
            }
        }
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files.into_values())
            .expect("the files reflection served are complete and consistent");
        Self { services, pool }
    }

    fn method(&self, service: &str, method: &str) -> MethodDescriptor {
        self.pool
            .get_service_by_name(service)
            .unwrap_or_else(|| panic!("{service} is described"))
            .methods()
            .find(|m| m.name() == method)
            .unwrap_or_else(|| panic!("{service} has {method}"))
    }

    /// `(field, description)` of every `google.rpc.BadRequest` field
    /// violation in `status` (a `google.rpc.Status`), each detail's type
    /// resolved by the name in its type URL.
    fn bad_request_fields(&self, status: &DynamicMessage) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for detail in list(status, "details") {
            let type_url = string(&detail, "type_url");
            let type_name = type_url.rsplit('/').next().unwrap_or_default();
            let descriptor = self
                .pool
                .get_message_by_name(type_name)
                .unwrap_or_else(|| panic!("the detail type {type_url} resolves"));
            let Some(Value::Bytes(value)) = detail.get_field_by_name("value").as_deref().cloned()
            else {
                panic!("an Any has its value");
            };
            let detail = DynamicMessage::decode(descriptor, value).expect("the detail decodes");
            if type_name == "google.rpc.BadRequest" {
                for violation in list(&detail, "field_violations") {
                    out.push((
                        string(&violation, "field"),
                        string(&violation, "description"),
                    ));
                }
            }
        }
        out
    }

    /// `status` as the `google.rpc.Status` a server sends in
    /// `grpc-status-details-bin`, decoded with the reflected descriptor.
    fn status_details(&self, status: &tonic::Status) -> DynamicMessage {
        let descriptor = self
            .pool
            .get_message_by_name("google.rpc.Status")
            .expect("google.rpc.Status is described");
        DynamicMessage::decode(descriptor, status.details()).expect("the status details decode")
    }
}

fn list(message: &DynamicMessage, field: &str) -> Vec<DynamicMessage> {
    match message.get_field_by_name(field).as_deref() {
        Some(Value::List(items)) => items
            .iter()
            .map(|item| item.as_message().expect("a message").clone())
            .collect(),
        other => panic!("{field} is a list, not {other:?}"),
    }
}

fn string(message: &DynamicMessage, field: &str) -> String {
    match message.get_field_by_name(field).as_deref() {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{field} is a string, not {other:?}"),
    }
}

/// Messages pass through as bytes: the client encodes and decodes them
/// itself, with descriptors from reflection.
#[derive(Clone, Copy)]
pub(crate) struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// A unary call of `method` with a dynamic request; returns the answer's
/// bytes (to decode with the reflected output type) or the status.
async fn call(
    channel: Channel,
    method: &MethodDescriptor,
    request: &DynamicMessage,
    key: &str,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let path = http::uri::PathAndQuery::try_from(path).expect("a valid path");
    let response = grpc
        .unary(authed(request.encode_to_vec(), key), path, RawCodec)
        .await?;
    Ok(response.into_inner())
}

#[tokio::test]
async fn every_listed_service_and_error_detail_resolves_on_both_reflection_versions() {
    let app = TestApp::spawn().await;
    for channel in [app.recruiting_channel().await, app.metrics_channel().await] {
        let v1 = Reflected::from(|ask| ask_v1(channel.clone(), ask)).await;
        let v1alpha = Reflected::from(|ask| ask_v1alpha(channel.clone(), ask)).await;
        for reflected in [v1, v1alpha] {
            assert!(
                reflected.services.len() > 3,
                "{:?} lists the service's own services",
                reflected.services
            );
            for service in &reflected.services {
                let descriptor = reflected
                    .pool
                    .get_service_by_name(service)
                    .unwrap_or_else(|| panic!("{service} is described"));
                assert!(descriptor.methods().len() > 0, "{service} has methods");
            }
            for detail in ERROR_DETAILS {
                assert!(
                    reflected.pool.get_message_by_name(detail).is_some(),
                    "{detail} is described"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reflection_only_client_reads_the_bad_request_of_a_rejected_push() {
    let app = TestApp::spawn().await;
    let platform = app.create_platform("a").await;
    let channel = app.recruiting_channel().await;
    let contracts = Reflected::from(|ask| ask_v1(channel.clone(), ask)).await;
    let method = contracts.method("talent.recruiting.v1.PostingService", "BatchUpsertPostings");

    // The README's push, with the title left out: the item is rejected in
    // its result, the call succeeds.
    let posting_type = method
        .input()
        .get_field_by_name("postings")
        .and_then(|f| f.kind().as_message().cloned())
        .expect("postings is a list of Posting");
    let mut posting = DynamicMessage::new(posting_type);
    for (field, value) in [
        ("external_id", Value::String("job-1".into())),
        (
            "employer_credit_code",
            Value::String("91370212MA3C000013".into()),
        ),
        ("headcount", Value::I32(2)),
        ("workplace_district", Value::String("370212".into())),
        ("industry", Value::String("I".into())),
    ] {
        posting.set_field_by_name(field, value);
    }
    let mut request = DynamicMessage::new(method.input());
    request.set_field_by_name("postings", Value::List(vec![Value::Message(posting)]));
    let answer = call(channel.clone(), &method, &request, &platform.key)
        .await
        .expect("a rejected item does not fail the call");

    let response = DynamicMessage::decode(method.output(), answer.as_slice()).unwrap();
    let results = list(&response, "results");
    assert_eq!(results.len(), 1);
    let Some(Value::Message(error)) = results[0].get_field_by_name("error").as_deref().cloned()
    else {
        panic!("the rejected item has its error");
    };
    let Some(Value::I32(code)) = error.get_field_by_name("code").as_deref().cloned() else {
        panic!("the error has a code");
    };
    assert_eq!(Code::from(code), Code::InvalidArgument);
    let dynamic = contracts.bad_request_fields(&error);
    assert!(
        dynamic
            .iter()
            .any(|(field, description)| field == "postings[0].title" && !description.is_empty()),
        "{dynamic:?}"
    );
    // The same bytes read with the compiled types say the same.
    let typed = pb::BatchUpsertPostingsResponse::decode(answer.as_slice()).unwrap();
    let typed_error = typed.results[0].error.as_ref().unwrap();
    let compiled: Vec<(String, String)> = typed_error
        .details
        .iter()
        .filter(|any| any.type_url.ends_with("/google.rpc.BadRequest"))
        .flat_map(|any| {
            tonic_types::pb::BadRequest::decode(any.value.as_slice())
                .unwrap()
                .field_violations
        })
        .map(|v| (v.field, v.description))
        .collect();
    assert_eq!(dynamic, compiled);

    // A request rejected whole: the BadRequest travels in the status.
    let empty = DynamicMessage::new(method.input());
    let status = call(channel, &method, &empty, &platform.key)
        .await
        .expect_err("an empty batch is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = contracts
        .bad_request_fields(&contracts.status_details(&status))
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(fields, ["postings"]);
    app.stop().await;
}
