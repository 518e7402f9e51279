//! `packyard jobs`: background jobs, newest first.

use crate::app::App;
use crate::config::Settings;

pub async fn run(settings: Settings, state: Option<&str>, limit: i64) -> anyhow::Result<()> {
    let state = match state {
        Some(name) => Some(name.parse::<crate::db::JobState>()?),
        None => None,
    };
    let app = App::open(settings).await?;
    for job in app.db.jobs(state, limit).await? {
        let detail = job.error.as_deref().or(job.result.as_deref()).unwrap_or("");
        println!(
            "{}\t{}\t{}\t{}\t{}",
            job.id,
            job.kind,
            job.state.as_str(),
            job.payload,
            detail.lines().next().unwrap_or("")
        );
    }
    Ok(())
}
