//! `person-patch-admin`: table set-up, demo data and inspection, against DynamoDB Local or AWS
//! (endpoint, region and credentials from the standard AWS SDK configuration).

use clap::{Parser, Subcommand};
use person_patch::auth::clients::generate_secret;
use person_patch::auth::WRITE_SCOPE;
use std::io::Write;
use std::sync::atomic::Ordering;

use person_patch::admin::transfer::{self, describe, Counting, Existing, Import, Progress};
use person_patch::admin::{self, AdminError};
use person_patch::dialect::{Dialect, DIALECTS};
use person_patch::ops::config::{CLIENTS_TABLE_ENV, PERSONS_TABLE_ENV};
use person_patch::store::tables::Tables;
use person_patch::store::PersonKey;
use person_patch::table::CustomerId;

#[derive(Parser)]
#[command(
    name = "person-patch-admin",
    about = "Administer person-patch's DynamoDB tables"
)]
struct Cli {
    /// The persons table.
    #[arg(long, env = PERSONS_TABLE_ENV, global = true, default_value = "Persons")]
    persons_table: String,
    /// The API clients table.
    #[arg(long, env = CLIENTS_TABLE_ENV, global = true, default_value = "ApiClients")]
    clients_table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create both tables (on-demand); existing tables are left alone.
    CreateTables,
    /// Write the demo records (docs/API.md §8), replacing earlier copies.
    SeedDemo,
    /// Create (or replace) an API client; its secret is stored only as an argon2id hash.
    CreateClient {
        /// The client id (the Basic user name).
        #[arg(long)]
        id: String,
        /// The secret to set (visible in shell history; prefer --generate).
        #[arg(
            long,
            conflicts_with = "generate",
            required_unless_present = "generate"
        )]
        secret: Option<String>,
        /// Generate a random secret and print it once.
        #[arg(long)]
        generate: bool,
        /// A customer the client may act for (repeat for several).
        #[arg(long = "customer", required = true)]
        customers: Vec<i64>,
        /// A scope the client holds (repeat for several).
        #[arg(long = "scope", default_values_t = [WRITE_SCOPE.to_owned()])]
        scopes: Vec<String>,
    },
    /// Disable an API client (cached verifications lapse within 5 minutes).
    DisableClient {
        #[arg(long)]
        id: String,
    },
    /// Create or replace a custom field definition of a customer.
    PutFieldDefinition {
        #[arg(long)]
        customer: i64,
        /// The definition id.
        #[arg(long)]
        id: i64,
        /// boolean, integer, decimal, text, list, statement, date, note, time or systemList.
        #[arg(long = "type")]
        kind: String,
        /// An allowed value of a list (repeat for several).
        #[arg(long = "option")]
        options: Vec<String>,
        /// Clients may not set it (statements always are).
        #[arg(long)]
        read_only: bool,
    },
    /// Print the OpenAPI 3.1 description generated from the field tables (YAML).
    Openapi,
    /// Import persons from JSON Lines, one a line in the dialect's field names with its id
    /// (`id` for contacts-v1, `ID` for persons-v2); FILE `-` reads standard input. Rejected
    /// lines go to FILE.rejected.jsonl (rejected.jsonl for standard input).
    Import {
        #[arg(long)]
        customer: i64,
        /// contacts-v1 or persons-v2.
        #[arg(long)]
        dialect: String,
        /// What an existing person gets: skip (default), fail, or update (as a PATCH would).
        #[arg(long, default_value = "skip")]
        existing: String,
        /// Writes in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        file: String,
    },
    /// Export a customer's persons as JSON Lines (v2 as its answer, v1 as the fields a PATCH
    /// takes), to FILE or standard output.
    Export {
        #[arg(long)]
        customer: i64,
        /// Only persons of this dialect (contacts-v1 or persons-v2).
        #[arg(long)]
        dialect: Option<String>,
        file: Option<String>,
    },
    /// Print the JSON Schema of a stored person of a dialect (contacts-v1 or persons-v2).
    ItemSchema {
        #[arg(long)]
        dialect: String,
    },
    /// Print one stored person as JSON.
    GetPerson {
        /// The customer id.
        #[arg(long)]
        customer: i64,
        /// The person id: a UUID (Contacts v1) or a positive integer (Persons v2).
        #[arg(long)]
        person: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), AdminError> {
    let cli = Cli::parse();
    if print_description(&cli.command)? {
        return Ok(());
    }
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (persons, clients) = (cli.persons_table.as_str(), cli.clients_table.as_str());
    let tables = Tables::new(aws_sdk_dynamodb::Client::new(&sdk_config), persons, clients);
    match cli.command {
        Command::CreateTables => {
            admin::create_tables(&tables).await?;
            println!("tables ready: {persons} {clients}");
        }
        Command::SeedDemo => {
            let generated = admin::seed_demo(&tables).await?;
            println!("demo data written to {persons}");
            println!(
                "demo clients: {}:{} (argon2id) and {}:{generated} (generated)",
                admin::DEMO_CLIENT_ID,
                admin::DEMO_CLIENT_SECRET,
                admin::DEMO_GENERATED_CLIENT_ID
            );
        }
        Command::CreateClient {
            id,
            secret,
            generate,
            customers,
            scopes,
        } => create_client(&tables, &id, secret, generate, customers, &scopes).await?,
        Command::DisableClient { id } => {
            admin::disable_client(&tables, &id).await?;
            println!("client {id} disabled");
        }
        Command::PutFieldDefinition {
            customer,
            id,
            kind,
            options,
            read_only,
        } => {
            let customer = CustomerId(customer);
            admin::put_field_definition(&tables, customer, id, &kind, &options, read_only).await?;
            println!(
                "definition {id} ({kind}) written for customer {}",
                customer.0
            );
        }
        Command::Openapi | Command::ItemSchema { .. } => {}
        Command::Import {
            customer,
            dialect,
            existing,
            concurrency,
            file,
        } => {
            let request = import_request(customer, &dialect, &existing, concurrency)?;
            import(&tables, &request, &file).await?
        }
        Command::Export {
            customer,
            dialect,
            file,
        } => {
            let dialect = dialect.as_deref().map(dialect_named).transpose()?;
            export(&tables, CustomerId(customer), dialect, file.as_deref()).await?
        }
        Command::GetPerson { customer, person } => get_person(&tables, customer, &person).await?,
    }
    Ok(())
}

/// `create-client`: with the secret given, or a generated one shown once.
async fn create_client(
    tables: &Tables,
    id: &str,
    secret: Option<String>,
    generate: bool,
    customers: Vec<i64>,
    scopes: &[String],
) -> Result<(), AdminError> {
    let secret = match (secret, generate) {
        (Some(secret), false) => secret,
        _ => generate_secret(),
    };
    let customers: Vec<CustomerId> = customers.into_iter().map(CustomerId).collect();
    admin::create_client(tables, id, &secret, &customers, scopes).await?;
    if generate {
        println!("client {id} created; its secret (shown only now): {secret}");
    } else {
        println!("client {id} created");
    }
    Ok(())
}

/// `get-person`: the stored item, as JSON.
async fn get_person(tables: &Tables, customer: i64, person: &str) -> Result<(), AdminError> {
    let person =
        admin::parse_person_id(person).ok_or("--person must be a UUID or a positive integer")?;
    let key = PersonKey::new(CustomerId(customer), person);
    match admin::get_person(tables, &key).await? {
        Some(item) => println!("{item:#}"),
        None => return Err("no such person".into()),
    }
    Ok(())
}

/// The commands that print a description and need no table: `true` when `command` was one.
fn print_description(command: &Command) -> Result<bool, AdminError> {
    match command {
        Command::Openapi => {
            print!(
                "{}",
                person_patch::http::openapi::to_yaml(&person_patch::http::openapi::document())
            );
            Ok(true)
        }
        Command::ItemSchema { dialect } => {
            let schema = person_patch::dialect::item::item_schema(dialect_named(dialect)?);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// What `import`'s options ask for.
fn import_request(
    customer: i64,
    dialect: &str,
    existing: &str,
    concurrency: usize,
) -> Result<Import, AdminError> {
    let existing = match existing {
        "skip" => Existing::Skip,
        "fail" => Existing::Fail,
        "update" => Existing::Update,
        _ => return Err("--existing must be skip, fail or update".into()),
    };
    Ok(Import {
        customer: CustomerId(customer),
        dialect: dialect_named(dialect)?,
        existing,
        concurrency,
    })
}

fn dialect_named(name: &str) -> Result<&'static Dialect, AdminError> {
    DIALECTS
        .iter()
        .copied()
        .find(|d| d.name == name)
        .ok_or_else(|| "--dialect must be contacts-v1 or persons-v2".into())
}

/// `import`: the file (or standard input) streamed, with progress, rejected lines beside it.
async fn import(tables: &Tables, request: &Import, file: &str) -> Result<(), AdminError> {
    let (reader, total, rejected_path): (Box<dyn std::io::Read>, Option<u64>, String) =
        if file == "-" {
            (Box::new(std::io::stdin()), None, "rejected.jsonl".into())
        } else {
            let opened = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
            let size = opened.metadata().ok().map(|m| m.len());
            (Box::new(opened), size, format!("{file}.rejected.jsonl"))
        };
    let (reader, read) = Counting::new(reader);
    let mut progress = Progress::new("import", total);
    let mut rejected_file: Option<std::io::BufWriter<std::fs::File>> = None;
    let mut write_error = None;
    let tally = transfer::import(
        tables,
        request,
        std::io::BufReader::new(reader),
        |tally| progress.update(read.load(Ordering::Relaxed), &describe(tally)),
        |line| {
            let file = match &mut rejected_file {
                Some(file) => file,
                None => match std::fs::File::create(&rejected_path) {
                    Ok(created) => rejected_file.insert(std::io::BufWriter::new(created)),
                    Err(e) => {
                        write_error = Some(format!("{rejected_path}: {e}"));
                        return;
                    }
                },
            };
            if let Err(e) = writeln!(file, "{}", line.to_json()) {
                write_error = Some(format!("{rejected_path}: {e}"));
            }
        },
    )
    .await?;
    if let Some(mut file) = rejected_file {
        file.flush()?;
    }
    if let Some(error) = write_error {
        return Err(error.into());
    }
    let mut summary = describe(&tally);
    if tally.rejected > 0 {
        summary.push_str(&format!(" (see {rejected_path})"));
    }
    progress.finish(&summary);
    if tally.rejected > 0 {
        return Err(format!("{} lines were rejected", tally.rejected).into());
    }
    Ok(())
}

/// `export`: to the file, or standard output, with progress on standard error.
async fn export(
    tables: &Tables,
    customer: CustomerId,
    dialect: Option<&'static Dialect>,
    file: Option<&str>,
) -> Result<(), AdminError> {
    let out: Box<dyn Write> = match file {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut progress = Progress::new("export", None);
    let written = transfer::export(
        tables,
        customer,
        dialect,
        std::io::BufWriter::new(out),
        |count| progress.update(count as u64, &format!("{count} persons")),
    )
    .await?;
    progress.finish(&format!("{written} persons exported"));
    Ok(())
}
