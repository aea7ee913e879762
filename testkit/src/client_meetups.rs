//! The meet-up routes of [`Client`] (API.md "Meet-ups").

use super::{Client, Read, Result};
use contract::commands::PositionResponse;
use contract::meetups::{
    AddAttendeeRequest, CalendarTokenResponse, ChangeMeetupRequest, CreateMeetupRequest,
    MeetupCreatedResponse, MeetupResponse, MyMeetupsResponse, RsvpRequest,
};
use domain::MeetupId;
use reqwest::{Method, StatusCode};

impl Client {
    /// `POST /v1/meetups`: plan a meet-up with its room.
    pub async fn create_meetup(&self, req: &CreateMeetupRequest) -> Result<MeetupCreatedResponse> {
        self.command(Method::POST, "/v1/meetups", Some(req), StatusCode::CREATED)
            .await
    }

    /// `PATCH /v1/meetups/{meetup_id}`: change details.
    pub async fn change_meetup(
        &self,
        meetup: MeetupId,
        req: &ChangeMeetupRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/meetups/{meetup}");
        self.command(Method::PATCH, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `DELETE /v1/meetups/{meetup_id}`: cancel.
    pub async fn cancel_meetup(&self, meetup: MeetupId) -> Result<PositionResponse> {
        let path = format!("/v1/meetups/{meetup}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `POST /v1/meetups/{meetup_id}/attendees`: invite.
    pub async fn invite_attendee(
        &self,
        meetup: MeetupId,
        req: &AddAttendeeRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/meetups/{meetup}/attendees");
        self.command(Method::POST, &path, Some(req), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/meetups/{meetup_id}/rsvp`: answer.
    pub async fn rsvp(&self, meetup: MeetupId, answer: &str) -> Result<PositionResponse> {
        let path = format!("/v1/meetups/{meetup}/rsvp");
        let req = RsvpRequest {
            answer: answer.to_owned(),
        };
        self.command(Method::POST, &path, Some(&req), StatusCode::OK)
            .await
    }

    /// `GET /v1/meetups/{meetup_id}`.
    pub async fn meetup(&self, meetup: MeetupId) -> Result<Read<MeetupResponse>> {
        self.query(&format!("/v1/meetups/{meetup}")).await
    }

    /// `GET /v1/me/meetups?from=&to=`.
    pub async fn my_meetups(&self, query: &[(&str, &str)]) -> Result<Read<MyMeetupsResponse>> {
        self.query(&format!("/v1/me/meetups?{}", super::encode(query)))
            .await
    }

    /// `POST /v1/me/calendar-token`: a new calendar feed token (the old one
    /// stops working).
    pub async fn rotate_calendar_token(&self) -> Result<CalendarTokenResponse> {
        self.command::<(), _>(
            Method::POST,
            "/v1/me/calendar-token",
            None,
            StatusCode::CREATED,
        )
        .await
    }
}
